"""The storage API: run summaries, a run's items, one item; captures from the worker;
``storage.created`` events; retention."""

from __future__ import annotations

import base64
import io
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from deck.events.models import Event
from storage.jobs import purge_expired_storage
from storage.models import StorageItem
from storage.services import storage_capture
from tasks.execution import run_execute
from tests.api.factories import make_task
from tests.storage.conftest import PDF_LIKE, attachment, attachment_task, start

pytestmark = pytest.mark.django_db

BILL = PDF_LIKE + b"EnergyLink bill, January"
STATEMENT = b"date,amount\n2025-01-01,12.50\n"


@pytest.fixture(autouse=True)
def file_planner(settings):
    settings.DECK_AGENT_PLANNER = "tests.storage.planners.FilePlanner"


def capture_task(org, files, **storage):
    lines = [
        f"capture {name} {content_type} {base64.b64encode(data).decode()}"
        for name, content_type, data in files
    ]
    return make_task(
        org,
        prompt="\n".join(lines),
        output_schema={"type": "object"},
        storage={"enabled": True, **storage},
    )


def run_with_captures(api, org, credential, files, **storage):
    task = capture_task(org, files, **storage)
    run = start(api, task, credential, {})
    assert run_execute(run["id"]) == "finished"
    return task, api.get(f"/v2/task-runs/{run['id']}").json()


def download(url):
    response = Client().get(urlsplit(url).path)
    assert response.status_code == 200
    return b"".join(response.streaming_content)


def test_captured_files_are_listed_on_the_run_and_downloadable(org, api, credential):
    files = [("bill.pdf", "application/pdf", BILL), ("statement.csv", "text/csv", STATEMENT)]
    _, run = run_with_captures(api, org, credential, files)
    assert run["status"] == "completed", run["errors"]
    assert run["result"] == "success"
    # The agent got each capture's summary back.
    captured = [(c["file_name"], c["file_size"]) for c in run["output"]["captured"]]
    assert captured == [("bill.pdf", len(BILL)), ("statement.csv", len(STATEMENT))]
    # Summaries on the run, newest first, without extraction or url.
    assert [s["file_name"] for s in run["storage"]] == ["statement.csv", "bill.pdf"]
    assert set(run["storage"][0]) == {
        "id",
        "object",
        "file_name",
        "file_type",
        "file_size",
        "purpose",
        "created_at",
    }
    assert {s["purpose"] for s in run["storage"]} == {"output"}

    listed = api.get(f"/v2/task-runs/{run['id']}/storage").json()
    assert (listed["has_more"], listed["next_cursor"]) == (False, None)
    assert [i["file_name"] for i in listed["data"]] == ["statement.csv", "bill.pdf"]
    newest = listed["data"][0]
    assert newest["object"] == "storage"
    assert newest["task_run_id"] == run["id"]
    assert newest["extraction"] is None
    assert newest["file_type"] == "text/csv"
    assert download(newest["url"]) == STATEMENT

    one = api.get(f"/v2/storage/{run['storage'][1]['id']}").json()
    assert one["file_name"] == "bill.pdf"
    assert download(one["url"]) == BILL

    full = api.get(f"/v2/task-runs/{run['id']}?include=storage").json()
    assert [i["task_run_id"] for i in full["storage"]] == [run["id"], run["id"]]
    assert all("url" in i and "extraction" in i for i in full["storage"])

    page = api.get(f"/v2/task-runs/{run['id']}/storage?limit=1").json()
    assert page["has_more"] is True
    assert [i["file_name"] for i in page["data"]] == ["statement.csv"]
    rest = api.get(f"/v2/task-runs/{run['id']}/storage?limit=1&cursor={page['next_cursor']}")
    assert [i["file_name"] for i in rest.json()["data"]] == ["bill.pdf"]

    # The run list carries the summaries too.
    runs = api.get("/v2/task-runs").json()["data"]
    assert [s["file_name"] for s in runs[0]["storage"]] == ["statement.csv", "bill.pdf"]


def test_storage_created_events_carry_the_item_without_url(org, api, credential):
    _, run = run_with_captures(api, org, credential, [("bill.pdf", "application/pdf", BILL)])
    item = api.get(f"/v2/storage/{run['storage'][0]['id']}").json()
    [event] = Event.objects.filter(type="storage.created")
    expected = {k: v for k, v in item.items() if k not in {"url", "request_id", "created_at"}}
    assert {k: v for k, v in event.data.items() if k != "created_at"} == expected
    assert event.data["created_at"][:23] == item["created_at"][:23]
    assert event.organization_id == org.id


def test_storage_off_captures_nothing(org, api, credential):
    task = make_task(org, prompt="capture x.pdf application/pdf QUJD")
    run = start(api, task, credential, {})
    assert run_execute(run["id"]) == "finished"
    body = api.get(f"/v2/task-runs/{run['id']}").json()
    assert body["storage"] == []
    assert body["output"]["captured"] == [None]
    assert not Event.objects.filter(type="storage.created").exists()


def test_file_names_are_made_safe_for_storage(org, api, credential):
    task = capture_task(org, [])
    run = start(api, task, credential, {})
    item = storage_capture(
        run_id=run["id"], file_name="../../etc/pass wd", content_type="", data=b"hello"
    )
    assert item is not None
    assert item.file.name == f"storage/{org.id}/{run['id']}/{item.id}/pass_wd"
    assert item.file_name == "../../etc/pass wd"  # shown as it was on the source
    assert item.file_type == "application/octet-stream"
    odd = storage_capture(run_id=run["id"], file_name="..", content_type="text/plain", data=b"x")
    assert odd is not None
    assert odd.file.name.endswith(f"/{odd.id}/file")


def test_another_organization_gets_404_everywhere(org, api, stranger_api, credential):
    _, run = run_with_captures(api, org, credential, [("bill.pdf", "application/pdf", BILL)])
    item_id = run["storage"][0]["id"]
    for path in (
        f"/v2/storage/{item_id}",
        f"/v2/task-runs/{run['id']}/storage",
        f"/v2/task-runs/{run['id']}?include=storage",
    ):
        response = stranger_api.get(path)
        assert response.status_code == 404, path
        assert response.json()["errors"][0]["type"] == "request"
    assert stranger_api.get(f"/v2/storage/{item_id}").json()["errors"][0]["code"] == (
        "storage_not_found"
    )
    assert api.get("/v2/storage/stor_nope").status_code == 404
    assert api.get("/v2/task-runs/trun_nope/storage").json()["errors"][0]["code"] == (
        "task_run_not_found"
    )


# -- retention ----------------------------------------------------------------------------


def test_items_expire_after_the_retention_period(org, api, credential, settings):
    task = attachment_task(org)
    run = start(api, task, credential, {"resume": attachment(PDF_LIKE)})
    item = StorageItem.objects.get(pk=run["storage"][0]["id"])
    expected = item.created_at + timedelta(days=settings.DECK_STORAGE_RETENTION_DAYS)
    assert abs((item.expires_at - expected).total_seconds()) < 5
    assert settings.DECK_STORAGE_RETENTION_DAYS == 90


def test_retention_job_deletes_file_and_row(
    org, api, credential, django_capture_on_commit_callbacks
):
    task = attachment_task(org)
    old = start(api, task, credential, {"resume": attachment(PDF_LIKE, name="old.pdf")})
    new = start(api, task, credential, {"resume": attachment(PDF_LIKE, name="new.pdf")})
    old_item = StorageItem.objects.get(pk=old["storage"][0]["id"])
    StorageItem.objects.filter(pk=old_item.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    storage = old_item.file.storage
    assert storage.exists(old_item.file.name)
    with django_capture_on_commit_callbacks(execute=True):
        assert purge_expired_storage() == 1
    assert not StorageItem.objects.filter(pk=old_item.pk).exists()
    assert not storage.exists(old_item.file.name)
    assert StorageItem.objects.filter(pk=new["storage"][0]["id"]).exists()
    assert api.get(f"/v2/task-runs/{old['id']}").json()["storage"] == []
    assert purge_expired_storage() == 0


def test_purge_storage_command(org, api, credential, django_capture_on_commit_callbacks):
    task = attachment_task(org)
    runs = [start(api, task, credential, {"resume": attachment(PDF_LIKE)}) for _ in range(3)]
    ids = [run["storage"][0]["id"] for run in runs]
    StorageItem.objects.filter(pk__in=ids[:2]).update(
        created_at=timezone.now() - timedelta(days=10)
    )
    out = io.StringIO()
    call_command("purge_storage", "--older-than-days", "7", "--dry-run", stdout=out)
    assert out.getvalue().strip() == "2 file(s) stored more than 7 days ago would be deleted."
    assert StorageItem.objects.count() == 3
    names = [StorageItem.objects.get(pk=i).file.name for i in ids]
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("purge_storage", "--older-than-days", "7", stdout=out)
    assert out.getvalue().strip() == "2 file(s) stored more than 7 days ago deleted."
    assert list(StorageItem.objects.values_list("pk", flat=True)) == [ids[2]]
    storage = StorageItem.objects.get(pk=ids[2]).file.storage
    assert [storage.exists(n) for n in names] == [False, False, True]
    out = io.StringIO()
    call_command("purge_storage", stdout=out)
    assert out.getvalue().strip() == "0 file(s) past retention (90 days) deleted."


def test_a_lowered_retention_applies_to_files_stored_before(
    org, api, credential, settings, django_capture_on_commit_callbacks
):
    task = attachment_task(org)
    run = start(api, task, credential, {"resume": attachment(PDF_LIKE)})
    StorageItem.objects.filter(pk=run["storage"][0]["id"]).update(
        created_at=timezone.now() - timedelta(days=40)
    )
    assert purge_expired_storage() == 0
    settings.DECK_STORAGE_RETENTION_DAYS = 30
    with django_capture_on_commit_callbacks(execute=True):
        assert purge_expired_storage() == 1
    assert not StorageItem.objects.exists()
