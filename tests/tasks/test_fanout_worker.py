"""Fan-out and workflows through a real Celery worker process: the lifecycle hooks run in the
worker, and the worker chains the children of a credential (tasks.jobs.execute_run)."""

from __future__ import annotations

from typing import Any

import pytest

from tasks.models import TaskRun, WorkflowRun
from tasks.services import entities_record
from tests.api.factories import make_agent, make_credential, make_task
from tests.tasks.test_worker_faults import eventually, run_in


@pytest.fixture
def credential(org):
    return make_credential(org)


def test_a_fan_out_drains_in_the_worker(org, api, credential, worker):
    task = make_task(org, prompt="login")
    found = [{"type": "account", "external_id": f"A-{n}"} for n in range(6)]
    entities_record(credential_id=credential.id, found=found)
    response = api.post(
        f"/v2/tasks/{task.id}/run",
        {"credential_id": credential.id, "input": {}, "entity_filter": {"type": "account"}},
    )
    assert response.status_code == 201, response.json()
    parent = eventually(
        lambda: run_in(response.json()["id"], "completed"), "the parent completes", timeout=60
    )
    assert parent.output["entities"] == {"total": 6, "completed": 6, "failed": 0, "canceled": 0}
    children = TaskRun.objects.filter(parent=parent)
    assert {child.session_id for child in children} == {parent.session_id}
    assert all(child.attempts == 1 for child in children)


def test_a_workflow_completes_in_the_worker(org, api, credential, worker):
    agent = make_agent(org)
    read = make_task(
        org,
        agent,
        prompt='login\noutput {"amount_due": 12.5}',
        input_schema={"type": "object", "properties": {}},
    )
    pay = make_task(
        org,
        agent,
        prompt="",
        input_schema={"type": "object", "properties": {"amount": {"type": "number"}}},
        output_schema={"type": "object"},
    )
    body: dict[str, Any] = {
        "name": "Read then pay",
        "steps": [
            {"task_id": read.id},
            {"task_id": pay.id, "input_mapping": {"amount": "/steps/0/amount_due"}},
        ],
    }
    workflow = api.post("/v2/workflows", body).json()
    started = api.post(f"/v2/workflows/{workflow['id']}/run", {"credential_id": credential.id})
    assert started.status_code == 201, started.json()

    def completed() -> WorkflowRun | None:
        found = WorkflowRun.objects.get(pk=started.json()["id"])
        return found if found.status == "completed" else None

    done = eventually(completed, "the workflow run completes", timeout=60)
    assert done.outputs == [{"amount_due": 12.5}, {"echo": {"amount": 12.5}}]
