"""Playbook versions through the API, and what discards them (no browser here: the steps are
recorded with ``playbook_record`` as the worker does after a successful run)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tasks.models import Playbook, TaskRun
from tasks.runs import run_create
from tasks.services import playbook_record
from tests.api.factories import make_credential, make_source, make_task


def steps(label: str = "Billing") -> list[dict[str, Any]]:
    return [
        {"tool": "goto", "value": "{{source.url}}", "optional": False},
        {
            "tool": "type",
            "targets": [{"label": "Password"}, {"css": "#password"}],
            "value": "{{credential.password}}",
            "expect": "/login",
            "optional": True,
        },
        {
            "tool": "click",
            "targets": [{"role": "link", "name": label}, {"text": label}],
            "value": None,
            "expect": "/home",
            "optional": False,
        },
        {"tool": "output", "fields": {"amount_due": {"from": "pair", "label": "Amount due"}}},
    ]


@pytest.fixture
def run(org) -> TaskRun:
    task = make_task(org)
    credential = make_credential(org)
    return run_create(organization=org, task_id=task.id, input={}, credential_id=credential.id)


def test_versions_count_up_only_when_the_steps_change(run):
    first = playbook_record(run=run, steps=steps())
    assert first is not None
    assert first.version == 1
    assert playbook_record(run=run, steps=steps()) is None  # the same steps again
    second = playbook_record(run=run, steps=steps("Bills"), healed_from_version=1)
    assert second is not None
    assert (second.version, second.healed_from_version) == (2, 1)
    assert playbook_record(run=run, steps=steps()) is not None  # back to v1's steps: v3
    assert list(Playbook.objects.values_list("version", flat=True).order_by("version")) == [
        1,
        2,
        3,
    ]


def test_a_run_that_skipped_the_login_adds_no_version(run):
    """A run in a session that was already signed in does the same minus the login."""
    assert playbook_record(run=run, steps=steps()) is not None
    signed_in = [step for step in steps() if not step.get("optional")]
    assert playbook_record(run=run, steps=signed_in) is None
    assert Playbook.objects.count() == 1


def test_steps_holding_a_secret_are_refused(run):
    leaky = steps()
    leaky[1]["value"] = "hunter2-secret"
    assert playbook_record(run=run, steps=leaky, secrets={"hunter2-secret"}) is None
    assert not Playbook.objects.exists()


def test_list_and_get(run, api):
    playbook_record(run=run, steps=steps())
    playbook_record(run=run, steps=steps("Bills"), healed_from_version=1)
    response = api.get(f"/v2/tasks/{run.task_id}/playbooks")
    assert response.status_code == 200, response.content
    body = response.json()
    assert [p["version"] for p in body["data"]] == [2, 1]  # newest first
    newest = body["data"][0]
    assert newest["object"] == "playbook"
    assert newest["id"].startswith("pbk_")
    assert newest["source_id"] == run.source_id
    assert newest["steps_count"] == 3
    assert newest["healed_from_version"] == 1
    assert newest["recorded_from_run_id"] == run.id
    assert "steps" not in newest

    page = api.get(f"/v2/tasks/{run.task_id}/playbooks?limit=1").json()
    assert page["has_more"]
    assert [p["version"] for p in page["data"]] == [2]
    rest = api.get(f"/v2/tasks/{run.task_id}/playbooks?limit=1&cursor={page['next_cursor']}")
    assert [p["version"] for p in rest.json()["data"]] == [1]

    detail = api.get(f"/v2/tasks/{run.task_id}/playbooks/1?source_id={run.source_id}").json()
    assert detail["steps"] == steps()
    assert api.get(f"/v2/tasks/{run.task_id}/playbooks/1").json()["version"] == 1

    task = api.get(f"/v2/tasks/{run.task_id}").json()
    assert task["playbook_versions"] == 2


def test_filter_by_source_and_ambiguous_version(org, run, api):
    playbook_record(run=run, steps=steps())
    other_source = make_source(org, name="Second portal")
    other = run_create(
        organization=org,
        task_id=run.task_id,
        input={},
        credential_id=make_credential(org, other_source).id,
    )
    playbook_record(run=other, steps=steps())
    listed = api.get(f"/v2/tasks/{run.task_id}/playbooks?source_id={other_source.id}").json()
    assert [p["source_id"] for p in listed["data"]] == [other_source.id]

    response = api.get(f"/v2/tasks/{run.task_id}/playbooks/1")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "source_id"
    assert api.get(f"/v2/tasks/{run.task_id}/playbooks/1?source_id={other_source.id}").json()[
        "source_id"
    ] == (other_source.id)


def test_missing_version_is_404(run, api):
    response = api.get(f"/v2/tasks/{run.task_id}/playbooks/7")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "playbook_not_found"


@pytest.mark.parametrize("suffix", ["playbooks", "playbooks/1"])
def test_another_organization_gets_404(run, stranger_api, suffix):
    playbook_record(run=run, steps=steps())
    response = stranger_api.get(f"/v2/tasks/{run.task_id}/{suffix}")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "task_not_found"


def test_reset_discards_the_playbooks(run, api):
    playbook_record(run=run, steps=steps())
    response = api.post(f"/v2/tasks/{run.task_id}/reset")
    assert response.status_code == 200
    assert response.json()["playbook_versions"] == 0
    assert not Playbook.objects.exists()


def test_editing_what_the_agent_was_taught_discards_the_playbooks(run, api):
    playbook_record(run=run, steps=steps())
    renamed = api.patch(f"/v2/tasks/{run.task_id}", {"name": "Renamed"}).json()
    assert renamed["playbook_versions"] == 1  # the name is not what the agent learned
    edited = api.patch(f"/v2/tasks/{run.task_id}", {"prompt": "Fetch the latest two bills."})
    assert edited.json()["playbook_versions"] == 0
    assert not Playbook.objects.exists()


def test_task_list_counts_playbooks_in_one_query(org, run, api):
    playbook_record(run=run, steps=steps())

    def listing() -> tuple[list[int], int]:
        with CaptureQueriesContext(connection) as queries:
            body = api.get("/v2/tasks").json()
        return [task["playbook_versions"] for task in body["data"]], len(queries)

    listing()  # the first request also notes the API key's use
    counts, queries = listing()
    assert counts == [1]
    for _ in range(3):
        make_task(org)
    counts, more_tasks_queries = listing()
    assert counts == [0, 0, 0, 1]
    assert more_tasks_queries == queries
