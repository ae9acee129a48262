"""The asynchronous path with a real Celery worker process: the scan job on queue
``default`` releases (or fails) an attachment run, which the worker then executes."""

from __future__ import annotations

import time

import pytest
from django.conf import settings as django_settings

from storage.models import StorageItem
from tasks.models import TaskRun
from tests.storage.conftest import EICAR, PDF_LIKE, attachment, attachment_task, start
from tests.tasks.conftest import worker, workers  # noqa: F401  (fixtures)

WAIT_SECONDS = 30


@pytest.fixture
def media(settings, transactional_db):
    """The worker process reads files where the deployment keeps them."""
    settings.MEDIA_ROOT = django_settings.VAR_DIR / "media"
    yield settings.MEDIA_ROOT
    for item in StorageItem.objects.all():
        item.file.delete(save=False)


def wait_finished(run_id: str) -> TaskRun:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        run = TaskRun.objects.get(pk=run_id)
        if run.is_terminal:
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} is still {TaskRun.objects.get(pk=run_id).status}")


def test_scan_job_releases_a_clean_attachment_run_and_fails_an_infected_one(
    org,
    api,
    credential,
    worker,  # noqa: F811
):
    task = attachment_task(org, prompt="")
    clean = start(api, task, credential, {"resume": attachment(PDF_LIKE)})
    infected = start(api, task, credential, {"resume": attachment(EICAR, name="x.pdf")})

    done = wait_finished(clean["id"])
    assert (done.status, done.result) == ("completed", "success"), done.errors
    assert done.output["echo"]["resume"]["storage_id"] == clean["storage"][0]["id"]
    assert StorageItem.objects.get(pk=clean["storage"][0]["id"]).scan_status == "clean"

    flagged = wait_finished(infected["id"])
    assert flagged.status == "failed"
    assert flagged.errors[0]["code"] == "attachment_invalid"
    assert flagged.started_at is None  # the agent never ran
