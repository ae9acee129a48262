"""Run screenshots: stored by the step recorder, listed oldest first, served by signed links."""

from __future__ import annotations

import pytest
from django.test import Client

from tasks.execution import _step_recorder
from tasks.models import RunStep, TaskRun
from tasks.runs import run_create
from tests.api.factories import make_credential, make_task

PNG = b"\x89PNG\r\n\x1a\n" + b"fake-but-bytes"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def run(org, monkeypatch) -> TaskRun:
    monkeypatch.setattr("tasks.runs.run_dispatch", lambda run_id, **kwargs: False)
    credential = make_credential(org)
    task = make_task(org)
    run = run_create(organization=org, task_id=task.id, input={}, credential_id=credential.id)
    step = _step_recorder(TaskRun.objects.get(pk=run.pk))
    TaskRun.objects.filter(pk=run.pk).update(status=TaskRun.Status.RUNNING)
    for index in range(3):
        step(
            "goto",
            {"url": f"/p{index}"},
            reasoning=f"page {index}",
            screenshot=PNG + bytes([index]),
        )
    step("finish", {}, reasoning="done")  # no screenshot
    return run


def test_steps_store_screenshots_under_the_run(run, org):
    steps = list(RunStep.objects.filter(run=run).order_by("sequence"))
    assert [s.screenshot for s in steps] == [
        f"screenshots/{org.id}/{run.id}/1.png",
        f"screenshots/{org.id}/{run.id}/2.png",
        f"screenshots/{org.id}/{run.id}/3.png",
        "",
    ]


def test_screenshots_are_listed_oldest_first_and_paginated(api, run):
    first = api.get(f"/v2/task-runs/{run.id}/screenshots?limit=2").json()
    assert [s["sequence"] for s in first["data"]] == [1, 2]
    assert [s["reasoning"] for s in first["data"]] == ["page 0", "page 1"]
    assert first["data"][0]["tool"] == "goto"
    assert first["has_more"] is True
    second = api.get(
        f"/v2/task-runs/{run.id}/screenshots?limit=2&cursor={first['next_cursor']}"
    ).json()
    assert [s["sequence"] for s in second["data"]] == [3]
    assert second["has_more"] is False
    assert second["next_cursor"] is None

    # The signed link serves the PNG itself, to anyone holding it, until it expires.
    response = Client().get(first["data"][1]["url"])
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PNG + bytes([1])


def test_include_screenshots_fills_the_run_artifacts(api, run):
    body = api.get(f"/v2/task-runs/{run.id}?include=screenshots").json()
    assert [s["sequence"] for s in body["artifacts"]["screenshots"]] == [1, 2, 3]
    assert "artifacts" not in api.get(f"/v2/task-runs/{run.id}").json()


def test_bad_cursor_and_limit_are_input_errors(api, run):
    bad = api.get(f"/v2/task-runs/{run.id}/screenshots?cursor=@@@")
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "cursor"
    assert api.get(f"/v2/task-runs/{run.id}/screenshots?limit=0").status_code == 400


def test_another_organization_gets_404(stranger_api, run):
    response = stranger_api.get(f"/v2/task-runs/{run.id}/screenshots")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "task_run_not_found"
