"""``manage.py run_task``: the run is created through ``run_create``; with ``--wait`` the
dispatch is replaced by an in-process ``run_execute`` so no worker is needed."""

from __future__ import annotations

import json
import threading
import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connections

from deck import redaction
from tasks import runs
from tasks.execution import run_execute
from tasks.models import RunStep, TaskRun
from tests.api.factories import make_credential, make_task

# The run is executed from run_create's on_commit callback, so commits must really happen.
pytestmark = pytest.mark.django_db(transaction=True)

CARD = "4242424242424242"
CVV = "987"
INPUT_SCHEMA = {
    "type": "object",
    "properties": {
        "card_number": {"type": "string", "pattern": "^[0-9]{16}$"},
        "cvv": {"type": "string"},
        "start_date": {"type": "string", "format": "date"},
        "count": {"type": "integer", "minimum": 1},
    },
    "required": ["card_number"],
    "tokenized": ["card_number", "cvv"],
}


@pytest.fixture(autouse=True)
def scripted_planner(settings):
    settings.DECK_AGENT_PLANNER = "tests.tasks.planners.ScriptedPlanner"


@pytest.fixture
def executed(monkeypatch):
    """Publishing a run executes it at once, here; the ids of the runs executed."""
    done: list[str] = []

    def dispatch(run_id: str, *, countdown: float = 0) -> bool:
        run_execute(run_id)
        # The worker is another process: what it registered as secret is not known here.
        monkeypatch.setattr(redaction, "_known", {})
        done.append(run_id)
        return True

    monkeypatch.setattr(runs, "run_dispatch", dispatch)
    return done


@pytest.fixture
def credential(org):
    return make_credential(org)


def payment_task(org, prompt, **fields):
    return make_task(org, prompt=prompt, input_schema=INPUT_SCHEMA, **fields)


def run_task(task, credential, payload, *args: str, out: StringIO | None = None) -> str:
    """The command's stdout; pass ``out`` to read it when the command raises."""
    out = out or StringIO()
    raw = payload if isinstance(payload, str) else json.dumps(payload)
    call_command(
        "run_task", task.id, "--credential", credential.id, "--input", raw, *args, stdout=out
    )
    return out.getvalue()


def test_without_wait_prints_the_queued_run(org, credential, monkeypatch):
    published: list[str] = []
    monkeypatch.setattr(runs, "run_dispatch", lambda run_id: published.append(run_id))
    task = payment_task(org, "login")
    out = run_task(task, credential, {"card_number": CARD})
    run = TaskRun.objects.get()
    assert out.splitlines() == [f"Run: {run.id}", "Status: queued"]
    assert published == [run.id]
    assert run.organization == org


def test_wait_prints_progress_and_the_output(org, credential, executed):
    task = payment_task(org, 'login\noutput {"paid": true, "amount": 12.5}')
    out = run_task(task, credential, {"card_number": CARD, "count": 2}, "--wait")
    run = TaskRun.objects.get()
    assert executed == [run.id]
    assert run.status == "completed"
    lines = out.splitlines()
    assert lines[:2] == [f"Run: {run.id}", "Status: queued"]
    progress = [line.split(" ", 1)[1] for line in lines[2:5]]
    assert progress == ["running", "#1 type log in", "#2 login"]
    assert lines[5].endswith(" #3 output")
    assert lines[6].endswith(" completed")
    assert json.loads("\n".join(lines[lines.index("Output:") + 1 :])) == {
        "paid": True,
        "amount": 12.5,
    }
    assert RunStep.objects.filter(run=run).count() == 3


def test_bad_json_is_a_command_error(org, credential, executed):
    task = payment_task(org, "login")
    with pytest.raises(CommandError, match=r"--input is not valid JSON"):
        run_task(task, credential, '{"card_number": ')
    with pytest.raises(CommandError, match="--input must be a JSON object"):
        run_task(task, credential, "[1, 2]")
    assert not TaskRun.objects.exists()


def test_schema_violations_show_every_field_path(org, credential, executed):
    task = payment_task(org, "login")
    with pytest.raises(CommandError) as caught:
        run_task(task, credential, {"start_date": "2026-13-45", "count": 0})
    message = str(caught.value)
    assert message.startswith("The run was not created:")
    for field in ("input.card_number", "input.count", "input.start_date"):
        assert f"  - {field}: " in message
    assert "[request.input_invalid]" in message
    assert not TaskRun.objects.exists()


def test_service_errors_name_their_field(org, executed):
    task = payment_task(org, "login")
    with pytest.raises(CommandError, match=r"credential_id: No credential with id 'cred_nope'"):
        call_command(
            "run_task",
            task.id,
            "--credential",
            "cred_nope",
            "--input",
            json.dumps({"card_number": CARD}),
            stdout=StringIO(),
        )


def test_unknown_task_is_a_command_error(db):
    with pytest.raises(CommandError, match="No task with id 'task_nope'"):
        call_command("run_task", "task_nope", "--source", "src_x", stdout=StringIO())


def test_the_task_decides_the_organization(org, other_org, executed):
    task = payment_task(other_org, "")
    out = run_task(task, make_credential(other_org), {"card_number": CARD}, "--wait")
    assert TaskRun.objects.get().organization == other_org
    assert "completed" in out


def test_failed_run_prints_its_errors_and_exits_non_zero(org, credential, executed):
    task = payment_task(org, "fail card_declined")
    stdout = StringIO()
    with pytest.raises(CommandError, match=r"Run trun_\w+ failed\.") as caught:
        run_task(task, credential, {"card_number": CARD}, "--wait", out=stdout)
    assert "Errors:\n  - Scripted failure. [task.card_declined]" in stdout.getvalue()
    assert caught.value.returncode == 1


def test_tokenized_values_are_never_printed(org, credential, executed):
    task = payment_task(org, "")  # the scripted agent echoes its input as the output
    out = run_task(task, credential, {"card_number": CARD, "cvv": CVV, "count": 3}, "--wait")
    output = json.loads(out.split("Output:\n", 1)[1])
    assert output == {"echo": {"card_number": "[redacted]", "cvv": "[redacted]", "count": 3}}
    assert CARD not in out
    assert f'"{CVV}"' not in out


def test_a_rejected_tokenized_value_is_not_quoted_back(org, credential, executed):
    task = payment_task(org, "")
    with pytest.raises(CommandError) as caught:
        run_task(task, credential, {"card_number": "4242-4242-4242-4242", "cvv": CVV})
    assert "4242-4242" not in str(caught.value)
    assert "input.card_number: the value does not satisfy 'pattern'" in str(caught.value)


def test_an_interaction_is_explained_until_the_timeout(org, credential, executed):
    task = payment_task(org, "ask")
    stdout = StringIO()
    with pytest.raises(CommandError, match=r"Gave up waiting after 0\.2 s"):
        run_task(task, credential, {"card_number": CARD}, "--wait", "--timeout", "0.2", out=stdout)
    out = stdout.getvalue()
    run = TaskRun.objects.get()
    assert run.status == "interaction_required"
    assert "interaction_required" in out
    assert "The run needs an answer (mfa): Enter the code we sent you." in out
    assert "  code (text): Code" in out
    assert f"/v2/task-runs/{run.id}/interaction" in out
    assert '{"input": {"code": "…"}}' in out


def test_wait_follows_a_run_through_its_interaction(org, credential, executed):
    task = payment_task(org, 'ask\noutput {"paid": true}')
    answered: list[str] = []

    def answer_when_asked() -> None:
        try:
            for _ in range(100):
                run = TaskRun.objects.filter(status="interaction_required").first()
                if run is not None:
                    runs.run_answer(organization=org, run_id=run.id, answer={"code": "123456"})
                    answered.append(run.id)
                    return
                time.sleep(0.05)
        finally:
            connections.close_all()

    person = threading.Thread(target=answer_when_asked)
    person.start()
    try:
        out = run_task(task, credential, {"card_number": CARD}, "--wait", "--timeout", "20")
    finally:
        person.join(timeout=10)
    run = TaskRun.objects.get()
    assert answered == [run.id]
    assert run.status == "completed"
    statuses = [line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("+")]
    assert statuses[:2] == ["running", "interaction_required"]
    assert statuses[-1] == "completed"
    assert "The run needs an answer (mfa)" in out
    assert json.loads(out.split("Output:\n", 1)[1]) == {"paid": True}
