"""The run lifecycle in process: the API creates runs, ``run_execute`` plays the worker."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from deck.events.models import Event
from deck.vault.models import VaultToken
from tasks.agent.runtime import PLANNERS
from tasks.execution import BUSY, run_execute, runs_sweep
from tasks.models import RunStep, Session, TaskRun
from tests.api.factories import make_credential, make_task
from tests.api.test_resources import database_dump

pytestmark = pytest.mark.django_db

CARD = "4242424242424242"
CVV = "987"


@pytest.fixture(autouse=True)
def scripted_planner(settings):
    settings.DECK_AGENT_PLANNER = "tests.tasks.planners.ScriptedPlanner"


@pytest.fixture
def credential(org):
    return make_credential(org)


def payment_task(org, prompt="login", **fields):
    return make_task(
        org,
        prompt=prompt,
        input_schema={
            "type": "object",
            "properties": {
                "card_number": {"type": "string"},
                "cvv": {"type": "string"},
                "start_date": {"type": "string", "format": "date"},
                "count": {"type": "integer", "minimum": 1},
            },
            "required": ["card_number"],
            "tokenized": ["card_number", "cvv"],
        },
        output_schema=fields.pop("output_schema", {"type": "object"}),
        **fields,
    )


def start(api, task, credential, body_input=None, **extra):
    body = {
        "credential_id": credential.id,
        "input": body_input or {"card_number": CARD, "cvv": CVV},
    }
    response = api.post(f"/v2/tasks/{task.id}/run", {**body, **extra})
    assert response.status_code == 201, response.json()
    return response.json()


def status_of(run_id):
    return TaskRun.objects.get(pk=run_id).status


def test_run_is_created_queued_with_tokenized_fields_removed(org, api, credential):
    task = payment_task(org)
    run = start(api, task, credential, {"card_number": CARD, "cvv": CVV, "count": 2})
    assert run["status"] == "queued"
    assert run["object"] == "task_run"
    assert run["tokenized"] == ["card_number", "cvv"]
    assert "input" not in run
    assert (run["credential_id"], run["source_id"]) == (credential.id, credential.source_id)
    assert run["session_id"].startswith("sess_")
    included = api.get(f"/v2/task-runs/{run['id']}?include=input,screenshots").json()
    assert included["input"] == {"count": 2}
    assert included["artifacts"] == {"screenshots": []}
    stored = TaskRun.objects.get(pk=run["id"])
    assert set(stored.input_tokens) == {"card_number", "cvv"}
    dump = database_dump()
    assert CARD not in dump
    assert CVV not in json.dumps([e.data for e in Event.objects.all()])
    assert Event.objects.filter(type="task_run.queued", data__id=run["id"]).exists()


def test_input_is_validated_before_anything_is_stored(org, api, credential):
    task = payment_task(org)
    response = api.post(
        f"/v2/tasks/{task.id}/run",
        {"credential_id": credential.id, "input": {"start_date": "2026-13-45", "count": 0}},
    )
    assert response.status_code == 400
    fields = sorted(error["field"] for error in response.json()["errors"])
    assert fields == ["input.card_number", "input.count", "input.start_date"]
    assert not TaskRun.objects.exists()
    assert not Session.objects.exists()
    assert not VaultToken.objects.filter(purpose="task_run.input").exists()


def test_errors_never_quote_a_tokenized_value(org, api, credential):
    task = make_task(
        org,
        input_schema={
            "type": "object",
            "properties": {"card_number": {"type": "string", "pattern": "^[0-9]{16}$"}},
            "tokenized": ["card_number"],
        },
    )
    secret = "4242-4242-4242-4242"
    response = api.post(
        f"/v2/tasks/{task.id}/run",
        {"credential_id": credential.id, "input": {"card_number": secret}},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "input.card_number"
    assert secret not in response.content.decode()


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"input": {}}, 400, "input_invalid", "credential_id"),
        ({"credential_id": "cred_nope", "input": {}}, 404, "credential_not_found", "credential_id"),
        ({"source_id": "src_nope", "input": {}}, 404, "source_not_found", "source_id"),
        ({"session_id": "sess_nope", "input": {}}, 404, "session_not_found", "session_id"),
        (
            {"source_id": "src_x", "entity_ids": ["ent_1"], "input": {}},
            404,
            "source_not_found",
            "source_id",
        ),
        ({"input": [], "source_id": "x"}, 400, "input_invalid", "input"),
    ],
)
def test_bad_run_requests(org, api, body, status, code, field):
    task = make_task(org, input_schema={"type": "object"})
    response = api.post(f"/v2/tasks/{task.id}/run", body)
    assert response.status_code == status, response.json()
    assert response.json()["errors"][0]["code"] == code
    assert response.json()["errors"][0]["field"] == field


def test_deduplication_without_schema_is_422(org, api, credential):
    task = make_task(org, storage={"enabled": True, "deduplication": True})
    response = api.post(f"/v2/tasks/{task.id}/run", {"credential_id": credential.id, "input": {}})
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert (error["type"], error["code"]) == ("storage", "deduplication_schema_missing")
    assert error["message"] == (
        "deduplication_schema must be defined before running a task with deduplication enabled."
    )


def test_session_limit(org, api, credential, settings):
    settings.DECK_SESSION_LIMIT = 1
    task = payment_task(org)
    start(api, task, credential)
    response = api.post(
        f"/v2/tasks/{task.id}/run", {"credential_id": credential.id, "input": {"card_number": "1"}}
    )
    assert response.status_code == 429
    assert response.json()["errors"][0]["code"] == "session_limit_exceeded"


def test_execution_restores_secrets_only_in_the_worker_and_completes(org, api, credential):
    task = payment_task(org, prompt='login\noutput {"paid": true}')
    run = start(api, task, credential)
    assert run_execute(run["id"]) == "finished"
    done = api.get(f"/v2/task-runs/{run['id']}").json()
    assert done["status"] == "completed"
    assert done["result"] == "success"
    assert done["output"] == {"paid": True}
    assert done["runtime_ms"] is not None
    # The trace never holds the typed password; finished runs drop their input tokens.
    steps = list(RunStep.objects.filter(run_id=run["id"]).values_list("detail", flat=True))
    assert "hunter2-secret" not in json.dumps(steps)
    assert TaskRun.objects.get(pk=run["id"]).input_tokens == {}
    assert not VaultToken.objects.filter(purpose="task_run.input").exists()
    types = list(
        Event.objects.filter(data__id=run["id"])
        .order_by("created_at")
        .values_list("type", flat=True)
    )
    assert types == ["task_run.queued", "task_run.running", "task_run.completed"]
    assert Session.objects.get(pk=done["session_id"]).status == "idle"
    assert "hunter2-secret" not in database_dump()


def test_tokenized_values_reach_the_agent_but_never_its_stored_output(org, api, credential):
    task = payment_task(org, prompt="")
    run = start(api, task, credential, {"card_number": CARD, "cvv": CVV, "count": 3})
    run_execute(run["id"])
    # The scripted agent echoes its input: the values it saw were exactly the originals, and
    # the lifecycle masked them before storing the output.
    output = TaskRun.objects.get(pk=run["id"]).output
    assert output == {"echo": {"card_number": "[redacted]", "cvv": "[redacted]", "count": 3}}
    assert CARD not in database_dump()


def test_duplicate_delivery_executes_once(org, api, credential):
    task = payment_task(org, prompt="login")
    run = start(api, task, credential)
    assert run_execute(run["id"]) == "finished"
    assert run_execute(run["id"]) == "skipped"
    assert TaskRun.objects.get(pk=run["id"]).attempts == 1


def test_output_must_match_the_schema(org, api, credential):
    schema = {
        "type": "object",
        "properties": {"amount": {"type": "number"}},
        "required": ["amount"],
    }
    task = payment_task(org, prompt='output {"amount": "twelve"}', output_schema=schema)
    run = start(api, task, credential)
    run_execute(run["id"])
    failed = api.get(f"/v2/task-runs/{run['id']}").json()
    assert failed["status"] == "failed"
    assert failed["errors"][0]["code"] == "output_invalid"
    assert failed["output"] is None


@pytest.mark.parametrize(
    ("prompt", "type_", "code"),
    [("fail nope", "task", "nope"), ("crash", "api", "agent_error")],
)
def test_agent_failures_fail_the_run(org, api, credential, prompt, type_, code):
    run = start(api, payment_task(org, prompt=prompt), credential)
    run_execute(run["id"])
    failed = api.get(f"/v2/task-runs/{run['id']}").json()
    assert (failed["status"], failed["result"]) == ("failed", "failure")
    assert (failed["errors"][0]["type"], failed["errors"][0]["code"]) == (type_, code)


def test_a_planner_that_is_not_installed_fails_clearly(org, api, credential, settings, monkeypatch):
    settings.DECK_AGENT_PLANNER = ""
    monkeypatch.setitem(PLANNERS, "heuristic", "tasks.agent.not_installed.Planner")
    run = start(api, payment_task(org), credential)
    run_execute(run["id"])
    error = TaskRun.objects.get(pk=run["id"]).errors[0]
    assert (error["type"], error["code"]) == ("api", "agent_unavailable")


def test_interaction_pauses_without_holding_the_worker_then_resumes(org, api, credential):
    run = start(api, payment_task(org, prompt="ask"), credential)
    assert run_execute(run["id"]) == "interaction_required"
    paused = api.get(f"/v2/task-runs/{run['id']}").json()
    assert paused["status"] == "interaction_required"
    assert paused["interaction"] == {
        "type": "mfa",
        "message": "Enter the code we sent you.",
        "fields": [{"name": "code", "type": "text", "label": "Code"}],
    }
    bad = api.post(f"/v2/task-runs/{run['id']}/interaction", {"input": {"token": "1"}})
    assert bad.status_code == 400
    assert {e["field"] for e in bad.json()["errors"]} == {"input.code", "input.token"}
    # A wrong answer raises a new interaction.
    api.post(f"/v2/task-runs/{run['id']}/interaction", {"input": {"code": "000000"}})
    assert status_of(run["id"]) == "queued"
    assert run_execute(run["id"]) == "interaction_required"
    assert (
        TaskRun.objects.get(pk=run["id"]).interaction["message"].startswith("That code was wrong")
    )
    answered = api.post(f"/v2/task-runs/{run['id']}/interaction", {"input": {"code": "123456"}})
    assert answered.json()["status"] == "queued"
    assert run_execute(run["id"]) == "finished"
    done = TaskRun.objects.get(pk=run["id"])
    assert done.status == "completed"
    assert done.output["mfa"] == "ok"
    assert done.interaction_answers == []
    assert "000000" not in json.dumps([e.data for e in Event.objects.all()])
    conflict = api.post(f"/v2/task-runs/{run['id']}/interaction", {"input": {"code": "1"}})
    assert conflict.status_code == 409


def test_unanswered_interaction_times_out(org, api, credential):
    source = credential.source
    source.interaction_timeout_seconds = 60
    source.save()
    run = start(api, payment_task(org, prompt="ask"), credential)
    run_execute(run["id"])
    paused = TaskRun.objects.get(pk=run["id"])
    assert 55 <= (paused.interaction_expires_at - timezone.now()).total_seconds() <= 60
    TaskRun.objects.filter(pk=run["id"]).update(
        interaction_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert runs_sweep()["expired"] == 1
    failed = TaskRun.objects.get(pk=run["id"])
    assert failed.status == "failed"
    assert failed.errors[-1]["code"] == "interaction_timeout"


def test_cancel_while_queued(org, api, credential):
    run = start(api, payment_task(org), credential)
    canceled = api.post(f"/v2/task-runs/{run['id']}/cancel").json()
    assert canceled["status"] == "canceled"
    assert canceled["canceled_at"]
    assert run_execute(run["id"]) == "skipped"
    again = api.post(f"/v2/task-runs/{run['id']}/cancel")
    assert again.status_code == 409
    assert again.json()["errors"][0]["code"] == "state_conflict"


def test_cancel_while_running_stops_at_the_next_checkpoint(org, api, credential):
    from tasks.agent.runtime import RunCanceled
    from tasks.execution import _context, _finish_canceled, run_claim

    run = start(api, payment_task(org, prompt="sleep 0.3"), credential)
    claimed = run_claim(run["id"])
    context = _context(claimed)
    context.checkpoint()  # still running: no-op
    assert api.post(f"/v2/task-runs/{run['id']}/cancel").json()["status"] == "canceling"
    with pytest.raises(RunCanceled):
        context.checkpoint()
    _finish_canceled(claimed)
    canceled = api.get(f"/v2/task-runs/{run['id']}").json()
    assert canceled["status"] == "canceled"
    assert canceled["canceled_at"]
    assert Session.objects.get(pk=run["session_id"]).status == "idle"


def test_cancel_while_waiting_for_an_answer(org, api, credential):
    run = start(api, payment_task(org, prompt="ask"), credential)
    run_execute(run["id"])
    assert api.post(f"/v2/task-runs/{run['id']}/cancel").json()["status"] == "canceled"


def test_timeout_fails_the_run(org, api, credential):
    task = payment_task(org, prompt="sleep 5", timeout_seconds=1)
    run = start(api, task, credential)
    assert run_execute(run["id"]) == "timeout"
    failed = TaskRun.objects.get(pk=run["id"])
    assert failed.status == "failed"
    assert failed.errors[-1] == {
        "type": "task",
        "code": "timeout",
        "message": "The run exceeded settings.timeout_seconds.",
    }


def test_second_run_on_a_credential_waits(org, api, credential):
    task = payment_task(org, prompt="login")
    first = start(api, task, credential)
    second = start(api, task, credential)
    from tasks.execution import run_claim

    assert isinstance(run_claim(first["id"]), TaskRun)
    assert run_claim(second["id"]) == BUSY
    assert status_of(second["id"]) == "queued"


def test_review_approve_and_reject(org, api, credential):
    task = payment_task(org, prompt='output {"confirmation": "C-1"}', review_required=True)
    approved, rejected = start(api, task, credential), start(api, task, credential)
    for run in (approved, rejected):
        run_execute(run["id"])
        assert status_of(run["id"]) == "review_required"
    assert api.post(f"/v2/task-runs/{approved['id']}/approve").json()["status"] == "completed"
    body = api.post(f"/v2/task-runs/{rejected['id']}/reject", {"reason": "wrong account"}).json()
    assert body["status"] == "failed"
    assert body["errors"][-1] == {
        "type": "task",
        "code": "review_rejected",
        "message": "wrong account",
    }
    assert api.post(f"/v2/task-runs/{approved['id']}/approve").status_code == 409


def test_task_graduates_after_three_successes_per_stage(org, api, credential):
    task = payment_task(org, prompt="")
    statuses = []
    for _ in range(6):
        run = start(api, task, credential)
        run_execute(run["id"])
        task.refresh_from_db()
        statuses.append((task.status, task.stage_successes))
    assert statuses == [
        ("learning", 1),
        ("learning", 2),
        ("test", 0),
        ("test", 1),
        ("test", 2),
        ("live", 0),
    ]
    run = start(api, task, credential)
    run_execute(run["id"])
    task.refresh_from_db()
    assert (task.status, task.stage_successes) == ("live", 0)


def test_lost_worker_is_retried_then_fails_worker_lost(org, api, credential, settings):
    settings.DECK_RUN_MAX_ATTEMPTS = 2
    run = start(api, payment_task(org), credential)
    from tasks.execution import run_claim

    stale = timezone.now() - timedelta(seconds=settings.DECK_RUN_LOST_AFTER_SECONDS + 5)
    run_claim(run["id"])
    TaskRun.objects.filter(pk=run["id"]).update(heartbeat_at=stale)
    assert runs_sweep()["requeued"] == 1
    assert status_of(run["id"]) == "queued"
    run_claim(run["id"])
    TaskRun.objects.filter(pk=run["id"]).update(heartbeat_at=stale)
    assert runs_sweep()["lost"] == 1
    failed = TaskRun.objects.get(pk=run["id"])
    assert failed.status == "failed"
    assert failed.errors[-1]["code"] == "worker_lost"
    assert failed.errors[-1]["type"] == "api"


def test_sweeper_publishes_unpublished_runs(org, api, credential, monkeypatch):
    run = start(api, payment_task(org), credential)
    TaskRun.objects.filter(pk=run["id"]).update(updated_at=timezone.now() - timedelta(seconds=10))
    published = []
    from tasks import jobs

    monkeypatch.setattr(jobs.execute_run, "apply_async", lambda **kw: published.append(kw["args"]))
    assert runs_sweep()["dispatched"] == 1
    assert published == [(run["id"],)]
    assert TaskRun.objects.get(pk=run["id"]).dispatched_at is not None


def test_sessions_end_and_idle_sessions_expire(org, api, credential, settings):
    task = payment_task(org, prompt="")
    run = start(api, task, credential)
    run_execute(run["id"])
    session_id = run["session_id"]
    reused = start(api, task, credential, session_id=session_id)
    assert reused["session_id"] == session_id
    ended = api.post(f"/v2/sessions/{session_id}/end").json()
    assert ended["status"] == "completed"
    assert status_of(reused["id"]) == "canceled"
    refused = api.post(
        f"/v2/tasks/{task.id}/run", {"session_id": session_id, "input": {"card_number": "1"}}
    )
    assert refused.status_code == 409
    other = start(api, task, credential)
    run_execute(other["id"])
    Session.objects.filter(pk=other["session_id"]).update(
        last_active_at=timezone.now() - timedelta(seconds=settings.DECK_SESSION_IDLE_SECONDS + 1)
    )
    assert runs_sweep()["sessions_ended"] == 1
    assert Session.objects.get(pk=other["session_id"]).status == "completed"
    assert Event.objects.filter(type="session.completed").count() == 2


def test_run_list_filters(org, api, credential):
    task_a, task_b = payment_task(org, prompt=""), payment_task(org, prompt="fail x")
    a, b = start(api, task_a, credential), start(api, task_b, credential)
    run_execute(a["id"])
    run_execute(b["id"])
    ids = lambda q: [r["id"] for r in api.get(f"/v2/task-runs?{q}").json()["data"]]  # noqa: E731
    assert ids(f"task_id={task_a.id}") == [a["id"]]
    assert ids("status[]=failed") == [b["id"]]
    assert ids("result[]=success&result[]=failure") == [b["id"], a["id"]]
    assert ids(f"credential_id={credential.id}&status[]=completed") == [a["id"]]
    assert ids("created_after=2000-01-01T00:00:00Z") == [b["id"], a["id"]]
    assert ids("created_before=2000-01-01T00:00:00Z") == []
    assert api.get("/v2/task-runs?status[]=sleeping").status_code == 400
    assert api.get(f"/v2/task-runs/{a['id']}?include=everything").status_code == 400


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("get", ""),
        ("post", "/cancel"),
        ("post", "/interaction"),
        ("post", "/approve"),
        ("post", "/reject"),
    ],
)
def test_another_organization_gets_404_on_runs(org, api, stranger_api, credential, method, suffix):
    run = start(api, payment_task(org), credential)
    body = {"input": {"code": "1"}} if suffix == "/interaction" else None
    path = f"/v2/task-runs/{run['id']}{suffix}"
    response = (
        getattr(stranger_api, method)(path, body) if body else getattr(stranger_api, method)(path)
    )
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "task_run_not_found"
    assert stranger_api.get("/v2/task-runs").json()["data"] == []
    assert status_of(run["id"]) == "queued"


def test_another_organization_cannot_run_or_see_sessions(org, api, stranger_api, credential):
    task = payment_task(org)
    run = start(api, task, credential)
    assert (
        stranger_api.post(
            f"/v2/tasks/{task.id}/run", {"credential_id": credential.id, "input": {}}
        ).status_code
        == 404
    )
    assert stranger_api.get(f"/v2/sessions/{run['session_id']}").status_code == 404
    assert stranger_api.post(f"/v2/sessions/{run['session_id']}/end").status_code == 404
    assert stranger_api.get("/v2/sessions").json()["data"] == []
