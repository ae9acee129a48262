"""Workflows through the API, executed in process: ``run_execute`` plays the worker and the
scripted planner plays the agent (its prompt is the script of each step)."""

from __future__ import annotations

from typing import Any

import pytest

from deck.events.models import Event
from tasks.execution import run_execute
from tasks.models import TaskRun, WorkflowRun
from tests.api.factories import make_agent, make_credential, make_task
from tests.api.test_resources import database_dump

pytestmark = pytest.mark.django_db

ACCOUNT = "DE89370400440532013000"


@pytest.fixture(autouse=True)
def scripted_planner(settings):
    settings.DECK_AGENT_PLANNER = "tests.tasks.planners.ScriptedPlanner"


@pytest.fixture
def credential(org):
    return make_credential(org)


@pytest.fixture
def payment(org):
    """Seed 000's payment workflow: read a balance, submit a payment, fetch a confirmation."""
    agent = make_agent(org)
    balance = make_task(
        org,
        agent,
        name="Retrieve balance",
        prompt='login\noutput {"balance": 42.5, "currency": "EUR"}',
        input_schema={"type": "object", "properties": {"account": {"type": "string"}}},
        output_schema={
            "type": "object",
            "properties": {"balance": {"type": "number"}, "currency": {"type": "string"}},
        },
    )
    pay = make_task(
        org,
        agent,
        name="Submit payment",
        type="write",
        scope="submit_form",
        prompt="",
        input_schema={
            "type": "object",
            "properties": {
                "amount": {"type": "number"},
                "iban": {"type": "string"},
                "memo": {"type": "string"},
            },
            "required": ["amount", "iban"],
            "tokenized": ["iban"],
        },
        output_schema={
            "type": "object",
            "properties": {
                "echo": {
                    "type": "object",
                    "properties": {"amount": {"type": "number"}, "memo": {"type": "string"}},
                }
            },
        },
    )
    confirm = make_task(
        org,
        agent,
        name="Fetch confirmation",
        prompt="",
        input_schema={"type": "object", "properties": {"paid": {"type": "number"}}},
        output_schema={"type": "object"},
    )
    return balance, pay, confirm


def workflow_body(tasks: tuple[Any, ...], **pay_step: Any) -> dict[str, Any]:
    balance, pay, confirm = tasks
    return {
        "name": "Pay the balance",
        "input_schema": {
            "type": "object",
            "properties": {"iban": {"type": "string"}, "account": {"type": "string"}},
            "required": ["iban"],
            "tokenized": ["iban"],
        },
        "steps": [
            {"task_id": balance.id, "input_mapping": {"account": "/input/account"}},
            {
                "task_id": pay.id,
                "input_mapping": {
                    "amount": "/steps/0/balance",
                    "iban": "/input/iban",
                    "memo": {"const": "monthly"},
                },
                **pay_step,
            },
            {"task_id": confirm.id, "input_mapping": {"paid": "/steps/1/echo/amount"}},
        ],
    }


def create(api, body):
    response = api.post("/v2/workflows", body)
    assert response.status_code == 201, response.json()
    return response.json()


def start(api, workflow, credential, **extra):
    body = {"credential_id": credential.id, "input": {"iban": ACCOUNT, "account": "A-1"}}
    response = api.post(f"/v2/workflows/{workflow['id']}/run", {**body, **extra})
    assert response.status_code == 201, response.json()
    return response.json()


def drain(limit: int = 20) -> None:
    """Plays the worker until no step is queued."""
    for _ in range(limit):
        queued = TaskRun.objects.filter(status=TaskRun.Status.QUEUED, held=False).first()
        if queued is None:
            return
        run_execute(queued.id)
    raise AssertionError("runs kept coming")


def wrun(workflow_run_id: str) -> WorkflowRun:
    return WorkflowRun.objects.get(pk=workflow_run_id)


def event_types(workflow_run_id: str) -> list[str]:
    return list(
        Event.objects.filter(type__startswith="workflow_run.", data__id=workflow_run_id)
        .order_by("created_at", "id")
        .values_list("type", flat=True)
    )


# -- CRUD and checks ----------------------------------------------------------------------


def test_workflow_crud_with_events(org, api, payment):
    workflow = create(api, workflow_body(payment))
    assert workflow["id"].startswith("wf_")
    assert workflow["object"] == "workflow"
    assert workflow["steps"][0] == {
        "task_id": payment[0].id,
        "input_mapping": {"account": "/input/account"},
        "failure_behavior": "stop",
        "max_attempts": 1,
    }
    assert api.get(f"/v2/workflows/{workflow['id']}").json()["name"] == "Pay the balance"
    listed = api.get("/v2/workflows").json()
    assert [w["id"] for w in listed["data"]] == [workflow["id"]]

    patched = api.patch(f"/v2/workflows/{workflow['id']}", {"name": "Pay it", "description": "x"})
    assert patched.status_code == 200, patched.json()
    assert (patched.json()["name"], patched.json()["description"]) == ("Pay it", "x")

    bad = api.patch(f"/v2/workflows/{workflow['id']}", {"steps": []})
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "steps"

    assert api.delete(f"/v2/workflows/{workflow['id']}").json()["deleted"] is True
    assert api.get(f"/v2/workflows/{workflow['id']}").status_code == 404
    types = list(
        Event.objects.filter(type__startswith="workflow.")
        .order_by("created_at", "id")
        .values_list("type", flat=True)
    )
    assert types == ["workflow.created", "workflow.updated", "workflow.deleted"]


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (lambda b, t: b["steps"][0].update(task_id="task_nope"), "steps[0].task_id", "no task"),
        (
            lambda b, t: b["steps"][1]["input_mapping"].update(amount="/steps/2/paid"),
            "steps[1].input_mapping.amount",
            "earlier steps",
        ),
        (
            lambda b, t: b["steps"][1]["input_mapping"].update(amount="/steps/0/total"),
            "steps[1].input_mapping.amount",
            "not declared in the output_schema",
        ),
        (
            lambda b, t: b["steps"][1]["input_mapping"].update(amount="/steps/0/currency"),
            "steps[1].input_mapping.amount",
            "takes 'number'",
        ),
        (
            lambda b, t: b["steps"][0]["input_mapping"].update(account="/input/missing"),
            "steps[0].input_mapping.account",
            "workflow's input_schema",
        ),
        (
            lambda b, t: b["steps"][1]["input_mapping"].update(bogus="/input/iban"),
            "steps[1].input_mapping.bogus",
            "not a property",
        ),
        (
            lambda b, t: b["steps"][1]["input_mapping"].pop("amount"),
            "steps[1].input_mapping.amount",
            "required",
        ),
        (
            lambda b, t: b["steps"][1]["input_mapping"].update(memo={"const": 7}),
            "steps[1].input_mapping.memo",
            "constant",
        ),
        (
            lambda b, t: b["steps"][1]["input_mapping"].update(memo="/input/iban"),
            "steps[1].input_mapping.memo",
            "tokenized",
        ),
        (
            lambda b, t: b["steps"][1]["input_mapping"].update(memo="input/iban"),
            "steps[1].input_mapping.memo",
            "JSON Pointer",
        ),
        (
            lambda b, t: b["steps"][1].update(failure_behavior="retry", max_attempts=6),
            "steps[1].max_attempts",
            "between 1 and 5",
        ),
        (
            lambda b, t: b["steps"][1].update(failure_behavior="ignore"),
            "steps[1].failure_behavior",
            "one of",
        ),
        (lambda b, t: b["steps"][2].update(extra=1), "steps[2].extra", "not a step field"),
    ],
)
def test_mapping_errors_name_the_field(org, api, payment, change, field, words):
    body = workflow_body(payment)
    change(body, payment)
    response = api.post("/v2/workflows", body)
    assert response.status_code == 400, response.json()
    error = response.json()["errors"][0]
    assert (error["type"], error["code"], error["field"]) == ("request", "input_invalid", field)
    assert words in error["message"]


def test_a_task_of_another_organization_is_not_a_step(org, other_org, api, payment):
    foreign = make_task(other_org)
    body = workflow_body(payment)
    body["steps"][2] = {"task_id": foreign.id}
    response = api.post("/v2/workflows", body)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "steps[2].task_id"


# -- execution ----------------------------------------------------------------------------


def test_read_write_read_completes_in_one_session_with_mapped_inputs(org, api, payment, credential):
    workflow = create(api, workflow_body(payment))
    started = start(api, workflow, credential)
    assert started["status"] == "queued"
    assert started["tokenized"] == ["iban"]
    assert [run["workflow_step"] for run in started["step_runs"]] == [0]
    drain()

    done = api.get(f"/v2/workflow-runs/{started['id']}?include=input").json()
    assert done["status"] == "completed", done
    assert done["input"] == {"account": "A-1"}  # the IBAN stays in the vault
    assert done["outputs"][0] == {"balance": 42.5, "currency": "EUR"}
    # The step got the IBAN restored in the worker; echoed back, it is masked in the output.
    assert done["outputs"][1] == {"echo": {"amount": 42.5, "memo": "monthly", "iban": "[redacted]"}}
    assert done["outputs"][2] == {"echo": {"paid": 42.5}}
    steps = done["step_runs"]
    assert [step["workflow_step"] for step in steps] == [0, 1, 2]
    assert {step["session_id"] for step in steps} == {done["session_id"]}
    assert {step["credential_id"] for step in steps} == {credential.id}
    assert {step["workflow_id"] for step in steps} == {workflow["id"]}
    assert steps[1]["tokenized"] == ["iban"]
    # The step run of the write task got the tokenized IBAN restored in the worker only.
    assert ACCOUNT not in database_dump()
    assert event_types(started["id"]) == [
        "workflow_run.queued",
        "workflow_run.running",
        "workflow_run.completed",
    ]
    filtered = api.get(f"/v2/task-runs?workflow_id={workflow['id']}").json()["data"]
    assert sorted(run["id"] for run in filtered) == sorted(step["id"] for step in steps)
    by_run = api.get(f"/v2/task-runs?workflow_run_id={started['id']}").json()["data"]
    assert len(by_run) == 3
    listed = api.get(f"/v2/workflow-runs?workflow_id={workflow['id']}&status=completed").json()
    assert [run["id"] for run in listed["data"]] == [started["id"]]
    assert api.get("/v2/workflow-runs?status=failed").json()["data"] == []


def test_stop_fails_the_workflow_at_the_failing_step(org, api, payment, credential):
    payment[1].prompt = "fail payment_declined"
    payment[1].save()
    started = start(api, create(api, workflow_body(payment)), credential)
    drain()
    done = wrun(started["id"])
    assert done.status == "failed"
    assert done.current_step == 1
    assert done.errors[0]["code"] == "payment_declined"
    assert done.errors[0]["step"] == 1
    assert TaskRun.objects.filter(workflow_run=done).count() == 2
    assert event_types(started["id"])[-1] == "workflow_run.failed"


def test_continue_goes_on_after_a_failed_step(org, api, payment, credential):
    payment[1].prompt = "fail payment_declined"
    payment[1].save()
    body = workflow_body(payment, failure_behavior="continue")
    # Step 2 takes a constant: the failed step has no output to map from.
    body["steps"][2]["input_mapping"] = {"paid": {"const": 0}}
    started = start(api, create(api, body), credential)
    drain()
    done = wrun(started["id"])
    assert done.status == "completed"
    assert [error["step"] for error in done.errors] == [1]
    assert done.outputs[1] is None
    assert done.outputs[2] == {"echo": {"paid": 0}}


def test_continue_skips_a_step_whose_input_cannot_be_built(org, api, payment, credential):
    payment[1].prompt = "fail payment_declined"
    payment[1].save()
    payment[2].input_schema = {
        "type": "object",
        "properties": {"paid": {"type": "number"}},
        "required": ["paid"],
    }
    payment[2].save()
    body = workflow_body(payment, failure_behavior="continue")
    body["steps"][2]["failure_behavior"] = "continue"
    started = start(api, create(api, body), credential)
    drain()
    done = wrun(started["id"])
    assert done.status == "completed"
    assert [error["step"] for error in done.errors] == [1, 2]
    assert "could not start" in done.errors[1]["message"]
    assert TaskRun.objects.filter(workflow_run=done).count() == 2


def test_retry_runs_the_step_again_up_to_max_attempts(org, api, payment, credential):
    payment[1].prompt = "fail flaky"
    payment[1].save()
    started = start(
        api,
        create(api, workflow_body(payment, failure_behavior="retry", max_attempts=3)),
        credential,
    )
    drain()
    done = wrun(started["id"])
    assert done.status == "failed"
    attempts = TaskRun.objects.filter(workflow_run=done, workflow_step=1)
    assert attempts.count() == 3
    assert {run.session_id for run in attempts} == {done.session_id}
    assert [error["code"] for error in done.errors] == ["flaky"] * 3


def test_retry_succeeds_when_a_later_attempt_does(org, api, payment, credential):
    """The first attempt runs with a wrong password; fixing the credential between attempts
    makes the second pass."""
    payment[1].prompt = "login"
    payment[1].save()
    payment[0].prompt = 'output {"balance": 42.5, "currency": "EUR"}'
    payment[0].save()
    wrong = make_credential(org, password="wrong")
    started = start(
        api, create(api, workflow_body(payment, failure_behavior="retry", max_attempts=2)), wrong
    )
    run_execute(TaskRun.objects.get(workflow_run_id=started["id"], workflow_step=0).id)
    run_execute(TaskRun.objects.get(workflow_run_id=started["id"], workflow_step=1).id)
    assert wrun(started["id"]).status == "running"
    api.patch(f"/v2/credentials/{wrong.id}", {"auth_credentials": {"password": "hunter2-secret"}})
    drain()
    done = wrun(started["id"])
    assert done.status == "completed", done.errors
    assert [error["code"] for error in done.errors] == ["auth_invalid"]
    assert TaskRun.objects.filter(workflow_run=done, workflow_step=1).count() == 2


def test_interaction_in_a_step_pauses_the_workflow_and_the_answer_resumes_it(
    org, api, payment, credential
):
    payment[1].prompt = "ask mfa code"
    payment[1].save()
    started = start(api, create(api, workflow_body(payment)), credential)
    drain()
    assert wrun(started["id"]).status == "interaction_required"
    step = TaskRun.objects.get(workflow_run_id=started["id"], workflow_step=1)
    assert step.status == "interaction_required"
    answered = api.post(f"/v2/task-runs/{step.id}/interaction", {"input": {"code": "123456"}})
    assert answered.status_code == 200, answered.json()
    assert wrun(started["id"]).status == "running"
    drain()
    done = wrun(started["id"])
    assert done.status == "completed"
    assert done.outputs[1]["mfa"] == "ok"
    assert event_types(started["id"]) == [
        "workflow_run.queued",
        "workflow_run.running",
        "workflow_run.interaction_required",
        "workflow_run.running",
        "workflow_run.completed",
    ]


def test_cancel_cancels_the_current_step(org, api, payment, credential):
    payment[1].prompt = "ask mfa code"
    payment[1].save()
    started = start(api, create(api, workflow_body(payment)), credential)
    drain()
    canceled = api.post(f"/v2/workflow-runs/{started['id']}/cancel")
    assert canceled.status_code == 200, canceled.json()
    assert canceled.json()["status"] == "canceled"
    step = TaskRun.objects.get(workflow_run_id=started["id"], workflow_step=1)
    assert step.status == "canceled"
    assert not TaskRun.objects.filter(workflow_run_id=started["id"], workflow_step=2).exists()
    again = api.post(f"/v2/workflow-runs/{started['id']}/cancel")
    assert again.status_code == 409
    assert event_types(started["id"])[-1] == "workflow_run.canceled"
    # Unfinished runs keep their workflow; finished ones may go.
    assert api.delete(f"/v2/workflows/{started['workflow_id']}").status_code == 200


def test_canceling_the_step_cancels_the_workflow_run(org, api, payment, credential):
    payment[0].prompt = "ask mfa code"
    payment[0].save()
    started = start(api, create(api, workflow_body(payment)), credential)
    drain()
    step = started["step_runs"][0]["id"]
    assert api.post(f"/v2/task-runs/{step}/cancel").status_code == 200
    assert wrun(started["id"]).status == "canceled"


def test_a_running_workflow_cannot_be_deleted(org, api, payment, credential):
    workflow = create(api, workflow_body(payment))
    start(api, workflow, credential)
    response = api.delete(f"/v2/workflows/{workflow['id']}")
    assert response.status_code == 409


def test_run_input_is_checked_before_anything_is_created(org, api, payment, credential):
    workflow = create(api, workflow_body(payment))
    response = api.post(
        f"/v2/workflows/{workflow['id']}/run", {"credential_id": credential.id, "input": {}}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "input.iban"
    response = api.post(f"/v2/workflows/{workflow['id']}/run", {"input": {"iban": ACCOUNT}})
    assert response.json()["errors"][0]["field"] == "credential_id"
    assert not WorkflowRun.objects.exists()
    assert not TaskRun.objects.exists()


def test_a_session_can_be_given_instead_of_a_credential(org, api, payment, credential):
    workflow = create(api, workflow_body(payment))
    first = start(api, workflow, credential)
    drain()
    second = start(api, workflow, credential, credential_id=None, session_id=first["session_id"])
    drain()
    assert wrun(second["id"]).status == "completed"
    assert wrun(second["id"]).session_id == first["session_id"]
    other = make_credential(org)
    mismatch = api.post(
        f"/v2/workflows/{workflow['id']}/run",
        {
            "credential_id": other.id,
            "session_id": first["session_id"],
            "input": {"iban": ACCOUNT},
        },
    )
    assert mismatch.status_code == 400
    assert mismatch.json()["errors"][0]["field"] == "credential_id"
    unknown = api.post(
        f"/v2/workflows/{workflow['id']}/run", {"session_id": "sess_x", "input": {"iban": ACCOUNT}}
    )
    assert unknown.json()["errors"][0]["code"] == "session_not_found"


def test_a_first_step_input_that_fails_its_task_names_the_step(org, api, payment, credential):
    payment[0].input_schema = {
        "type": "object",
        "properties": {"account": {"type": "string", "minLength": 5}},
    }
    payment[0].save()
    workflow = create(api, workflow_body(payment))
    response = api.post(
        f"/v2/workflows/{workflow['id']}/run",
        {"credential_id": credential.id, "input": {"iban": ACCOUNT, "account": "A"}},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "steps[0].input.account"
    assert not WorkflowRun.objects.exists()


def test_another_organization_gets_404_everywhere(org, api, stranger_api, payment, credential):
    workflow = create(api, workflow_body(payment))
    started = start(api, workflow, credential)
    wf, wr = workflow["id"], started["id"]
    responses = [
        stranger_api.get(f"/v2/workflows/{wf}"),
        stranger_api.patch(f"/v2/workflows/{wf}", {"name": "mine"}),
        stranger_api.delete(f"/v2/workflows/{wf}"),
        stranger_api.post(f"/v2/workflows/{wf}/run", {"input": {"iban": "x"}}),
        stranger_api.get(f"/v2/workflow-runs/{wr}"),
        stranger_api.post(f"/v2/workflow-runs/{wr}/cancel"),
    ]
    assert [response.status_code for response in responses] == [404] * 6
    assert responses[0].json()["errors"][0]["code"] == "workflow_not_found"
    assert responses[4].json()["errors"][0]["code"] == "workflow_run_not_found"
    assert stranger_api.get("/v2/workflows").json()["data"] == []
    assert stranger_api.get("/v2/workflow-runs").json()["data"] == []
    assert stranger_api.get(f"/v2/task-runs?workflow_id={wf}").json()["data"] == []
    # The stranger's own credential cannot drive another organization's workflow either.
    assert wrun(wr).status == "queued"
