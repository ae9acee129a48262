"""Workflows in the console: list, create (with mapping errors on the form), edit, run, the
live workflow run page, cancel; and the task type/scope filters and form."""

from __future__ import annotations

import html
import json

import pytest
from django.test import Client
from django.urls import reverse

from tasks.execution import run_execute
from tasks.models import Task, TaskRun, Workflow, WorkflowRun
from tests.api.factories import make_agent, make_credential, make_task

pytestmark = pytest.mark.django_db
HX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def console_settings(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.DECK_AGENT_PLANNER = "tests.tasks.planners.ScriptedPlanner"


@pytest.fixture
def member(client: Client, owner) -> Client:
    client.force_login(owner)
    return client


@pytest.fixture
def chain(org):
    agent = make_agent(org)
    read = make_task(
        org,
        agent,
        name="Read balance",
        prompt='output {"amount_due": 12.5}',
        input_schema={"type": "object", "properties": {}},
    )
    write = make_task(
        org,
        agent,
        name="Pay",
        type="write",
        prompt="ask mfa code",
        input_schema={"type": "object", "properties": {"amount": {"type": "number"}}},
        output_schema={"type": "object"},
    )
    return read, write


def steps_json(chain, pointer: str = "/steps/0/amount_due") -> str:
    read, write = chain
    return json.dumps(
        [{"task_id": read.id}, {"task_id": write.id, "input_mapping": {"amount": pointer}}]
    )


def create_form(member: Client, chain, **override: str):
    body = {
        "name": "Pay the bill",
        "description": "",
        "input_schema": '{"type": "object", "properties": {}}',
        "steps": steps_json(chain),
        **override,
    }
    return member.post(reverse("console:workflows_create"), body)


def test_create_list_detail_and_edit(member: Client, org, chain) -> None:
    assert "No workflows yet" in member.get(reverse("console:workflows")).content.decode()
    page = member.get(reverse("console:workflows_new")).content.decode()
    assert 'name="steps"' in page
    assert chain[0].id in page  # the task ids to copy into the steps

    response = create_form(member, chain)
    workflow = Workflow.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("console:workflows_detail", args=[workflow.id])
    listing = member.get(reverse("console:workflows")).content.decode()
    assert "Pay the bill" in listing
    detail = member.get(response.url).content.decode()
    assert "Read balance" in detail
    assert "/steps/0/amount_due" in detail
    assert 'name="credential"' in detail

    edit = member.get(reverse("console:workflows_edit", args=[workflow.id])).content.decode()
    assert "amount_due" in edit
    saved = member.post(
        reverse("console:workflows_update", args=[workflow.id]),
        {
            "name": "Pay it",
            "description": "monthly",
            "input_schema": '{"type": "object"}',
            "steps": steps_json(chain),
        },
    )
    assert saved.status_code == 302
    workflow.refresh_from_db()
    assert (workflow.name, workflow.description) == ("Pay it", "monthly")


def test_mapping_errors_land_on_the_steps_field(member: Client, org, chain) -> None:
    response = create_form(member, chain, steps=steps_json(chain, "/steps/1/amount"))
    assert response.status_code == 200
    content = response.content.decode()
    assert "earlier steps" in content
    assert not Workflow.objects.exists()
    not_json = create_form(member, chain, steps='{"task_id": 1}').content.decode()
    assert "Must be a JSON array" in not_json


def test_run_follow_and_cancel(member: Client, org, chain) -> None:
    credential = make_credential(org)
    create_form(member, chain)
    workflow = Workflow.objects.get()
    bad = member.post(reverse("console:workflows_run", args=[workflow.id]), {"credential": ""})
    assert bad.status_code == 200
    assert not WorkflowRun.objects.exists()

    started = member.post(
        reverse("console:workflows_run", args=[workflow.id]),
        {"credential": credential.id, "input": "{}"},
    )
    workflow_run = WorkflowRun.objects.get()
    url = reverse("console:workflows_runs_detail", args=[workflow_run.id])
    assert started.status_code == 302
    assert started["Location"] == url
    for _ in range(3):
        queued = TaskRun.objects.filter(status="queued").first()
        if queued:
            run_execute(queued.id)
    workflow_run.refresh_from_db()
    assert workflow_run.status == "interaction_required"
    page = html.unescape(member.get(url).content.decode())
    assert 'hx-trigger="every 2s"' in page
    assert "answer it on the step" in page
    assert reverse("console:runs_detail", args=[workflow_run.current_run_id]) in page
    assert '"amount_due": 12.5' in page
    # The poll answers with the steps while nothing changed, and a refresh once it did.
    poll = member.get(
        url, {"seen": "interaction_required"}, headers={**HX, "HX-Target": "workflow-run-header"}
    )
    assert poll.status_code == 200
    assert "Steps" in poll.content.decode()
    stale = member.get(url, {"seen": "running"}, headers={**HX, "HX-Target": "workflow-run-header"})
    assert stale.headers.get("HX-Refresh") == "true"

    member.post(reverse("console:workflows_runs_cancel", args=[workflow_run.id]))
    workflow_run.refresh_from_db()
    assert workflow_run.status == "canceled"
    assert 'hx-trigger="every 2s"' not in member.get(url).content.decode()
    member.post(reverse("console:workflows_delete", args=[workflow.id]))
    assert not Workflow.objects.exists()


def test_another_organizations_workflows_are_404(
    member: Client, org, other_org, chain, stranger
) -> None:
    create_form(member, chain)
    workflow = Workflow.objects.get()
    member.logout()
    member.force_login(stranger)
    for name in ("workflows_detail", "workflows_edit"):
        assert member.get(reverse(f"console:{name}", args=[workflow.id])).status_code == 404
    for name in ("workflows_update", "workflows_run", "workflows_delete"):
        assert member.post(reverse(f"console:{name}", args=[workflow.id])).status_code == 404
    assert member.get(reverse("console:workflows_runs_detail", args=["wrun_x"])).status_code == 404
    assert Workflow.objects.exists()


def test_task_type_and_scope_in_the_console(member: Client, org) -> None:
    agent = make_agent(org)
    make_task(org, agent, name="Read bill")
    make_task(org, agent, name="Pay bill", scope="submit_form")
    listing = member.get(reverse("console:tasks"), {"type": "write"}).content.decode()
    assert "Pay bill" in listing
    assert "Read bill" not in listing
    by_scope = member.get(reverse("console:tasks"), {"scope": "retrieve_metadata"}).content
    assert b"Read bill" in by_scope
    assert b"Pay bill" not in by_scope
    created = member.post(
        reverse("console:tasks_create"),
        {
            "name": "Upload",
            "agent": agent.id,
            "prompt": "x",
            "input_schema": '{"type": "object", "properties": {}}',
            "output_schema": '{"type": "object"}',
            "timeout_seconds": 60,
            "type": "read",
            "scope": "inject_field",
        },
    )
    assert created.status_code == 200
    assert "is a write scope" in created.content.decode()
    member.post(
        reverse("console:tasks_create"),
        {
            "name": "Upload",
            "agent": agent.id,
            "prompt": "x",
            "input_schema": '{"type": "object", "properties": {}}',
            "output_schema": '{"type": "object"}',
            "timeout_seconds": 60,
            "scope": "inject_field",
        },
    )
    task = Task.objects.get(name="Upload")
    assert (task.type, task.scope) == ("write", "inject_field")
    detail = member.get(reverse("console:tasks_detail", args=[task.id])).content.decode()
    assert "Write · Inject Field" in detail
