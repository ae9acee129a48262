"""The run lifecycle against real worker processes: crashes, a dead broker, duplicate
deliveries, timeouts and cancellation. The sweeper runs in the test process, as beat would
run it beside the workers."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest

from deck.celery import app as celery_app
from deck.events.models import Event
from tasks.execution import runs_sweep
from tasks.jobs import execute_run
from tasks.models import Session, TaskRun
from tests.api.factories import make_credential, make_task
from tests.tasks.worker import LOST_AFTER_SECONDS

pytestmark = pytest.mark.django_db(transaction=True)

S = TaskRun.Status
T = TypeVar("T")
WAIT_SECONDS = 30
# A request must not wait on the broker longer than this; the outbox sweeper publishes later.
PUBLISH_BUDGET_SECONDS = 10


@pytest.fixture
def credential(org):
    return make_credential(org)


def start(api, task, credential, **body: Any) -> dict[str, Any]:
    response = api.post(
        f"/v2/tasks/{task.id}/run", {"credential_id": credential.id, "input": {}, **body}
    )
    assert response.status_code == 201, response.json()
    return response.json()


def eventually(check: Callable[[], T | None], what: str, timeout: float = WAIT_SECONDS) -> T:
    """Polls ``check`` until it returns something truthy, for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"Not within {timeout}s: {what}")
        time.sleep(0.1)
    return result


def run_in(run_id: str, *statuses: str) -> TaskRun | None:
    run = TaskRun.objects.get(pk=run_id)
    return run if run.status in statuses else None


def swept_until(check: Callable[[], T | None], what: str) -> T:
    """Runs the sweeper, as beat would every few seconds, until ``check`` holds."""

    def sweep_and_check() -> T | None:
        runs_sweep()
        return check()

    return eventually(sweep_and_check, what)


def events(run_id: str, type: str) -> int:
    return Event.objects.filter(type=type, data__id=run_id).count()


# -- the happy path -----------------------------------------------------------------------


def test_a_worker_completes_a_run_created_through_the_api(org, api, credential, worker):
    task = make_task(org, prompt='login\noutput {"amount_due": 12.5}')
    created = start(api, task, credential)
    assert created["status"] == "queued"
    run = eventually(lambda: run_in(created["id"], S.COMPLETED), "the run completes")
    assert run.output == {"amount_due": 12.5}
    assert (run.result, run.attempts) == ("success", 1)
    assert run.dispatched_at is not None
    assert run.started_at <= run.finished_at
    done = api.get(f"/v2/task-runs/{run.id}").json()
    assert (done["status"], done["output"]) == ("completed", {"amount_due": 12.5})
    # The worker frees the session just after committing the result.
    eventually(
        lambda: Session.objects.get(pk=run.session_id).status == "idle", "the session is idle"
    )


# -- the broker is down when the run is created -------------------------------------------


@contextmanager
def refused_broker() -> Iterator[str]:
    """A Redis address where nothing listens: connecting fails at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    yield f"redis://127.0.0.1:{port}/0"


@contextmanager
def silent_broker() -> Iterator[str]:
    """A Redis address that accepts connections and never answers, like a hung server.
    Closing it resets those connections, so a publish stuck on it is released after the
    budget instead of hanging the test."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    guard = threading.Timer(PUBLISH_BUDGET_SECONDS * 2, listener.close)
    guard.start()
    try:
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    finally:
        guard.cancel()
        listener.close()


@contextmanager
def publishing_to(url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process publishes to ``url`` while the worker keeps consuming from the real
    broker. Celery caches its connection and producer pools, so they are swapped too."""
    monkeypatch.setitem(celery_app.conf, "broker_write_url", url)
    monkeypatch.setattr(celery_app, "_pool", None)
    monkeypatch.setattr(celery_app.amqp, "_producer_pool", None)
    try:
        yield
    finally:
        # kombu's Resource.force_close_all, which celery-types does not declare.
        pools: tuple[Any, ...] = (celery_app.amqp.producer_pool, celery_app.pool)
        for pool in pools:
            pool.force_close_all()
        monkeypatch.undo()


@pytest.mark.parametrize(
    "dead_broker",
    [
        refused_broker,
        pytest.param(
            silent_broker,
            marks=pytest.mark.skipif(
                not celery_app.conf.broker_url.startswith(("redis://", "rediss://")),
                reason="only a networked broker can accept a connection and then hang",
            ),
        ),
    ],
)
def test_a_run_created_while_the_broker_is_down_is_published_by_the_sweeper(
    org, api, credential, worker, monkeypatch, dead_broker
):
    task = make_task(org, prompt='output {"amount_due": 1}')
    with dead_broker() as url, publishing_to(url, monkeypatch):
        began = time.monotonic()
        created = start(api, task, credential)
        elapsed = time.monotonic() - began
    assert elapsed < PUBLISH_BUDGET_SECONDS, f"the request waited {elapsed:.1f}s on the broker"
    assert created["status"] == "queued"
    queued = TaskRun.objects.get(pk=created["id"])
    assert (queued.status, queued.dispatched_at) == (S.QUEUED, None)

    swept_until(
        lambda: TaskRun.objects.get(pk=created["id"]).dispatched_at, "the sweeper publishes"
    )
    run = eventually(lambda: run_in(created["id"], S.COMPLETED), "the run completes")
    assert (run.output, run.attempts) == ({"amount_due": 1}, 1)


# -- timeout ------------------------------------------------------------------------------


def test_a_run_past_its_timeout_fails_in_the_worker(org, api, credential, worker):
    task = make_task(org, prompt="sleep 30", timeout_seconds=2)
    created = start(api, task, credential)
    run = eventually(lambda: run_in(created["id"], S.FAILED), "the run times out", timeout=15)
    assert run.errors[-1] == {
        "type": "task",
        "code": "timeout",
        "message": "The run exceeded settings.timeout_seconds.",
    }
    assert 2000 <= run.runtime_ms < 10_000
    # The worker frees the session just after committing the failure.
    eventually(
        lambda: Session.objects.get(pk=run.session_id).status == "idle", "the session is idle"
    )


# -- cancel in each state -----------------------------------------------------------------


def test_cancel_a_run_queued_behind_another_on_its_credential(org, api, credential, worker):
    first = start(api, make_task(org, prompt="sleep 30"), credential)
    eventually(lambda: run_in(first["id"], S.RUNNING), "the first run starts")
    # The worker's one slot is busy and the credential too: the second run stays queued.
    second = start(api, make_task(org, prompt='output {"amount_due": 2}'), credential)
    assert run_in(second["id"], S.QUEUED)
    canceled = api.post(f"/v2/task-runs/{second['id']}/cancel").json()
    assert canceled["status"] == "canceled"
    assert canceled["canceled_at"]

    assert api.post(f"/v2/task-runs/{first['id']}/cancel").json()["status"] == "canceling"
    eventually(lambda: run_in(first["id"], S.CANCELED), "the first run stops")
    never_ran = TaskRun.objects.get(pk=second["id"])
    assert (never_ran.status, never_ran.attempts, never_ran.started_at) == (S.CANCELED, 0, None)
    assert events(second["id"], "task_run.running") == 0


def test_cancel_a_running_run_stops_it_in_the_worker(org, api, credential, worker):
    created = start(api, make_task(org, prompt="sleep 30"), credential)
    eventually(lambda: run_in(created["id"], S.RUNNING), "the run starts")
    canceling = api.post(f"/v2/task-runs/{created['id']}/cancel")
    assert canceling.status_code == 200
    assert canceling.json()["status"] == "canceling"
    run = eventually(lambda: run_in(created["id"], S.CANCELED), "the worker stops the run")
    assert run.canceled_at is not None
    assert run.finished_at is not None
    assert run.runtime_ms < 10_000
    assert events(run.id, "task_run.canceling") == events(run.id, "task_run.canceled") == 1
    eventually(
        lambda: Session.objects.get(pk=run.session_id).status == "idle", "the session is idle"
    )


def test_cancel_a_run_waiting_for_an_answer(org, api, credential, worker):
    created = start(api, make_task(org, prompt="ask"), credential)
    eventually(lambda: run_in(created["id"], S.INTERACTION_REQUIRED), "the run asks for MFA")
    canceled = api.post(f"/v2/task-runs/{created['id']}/cancel").json()
    assert canceled["status"] == "canceled"
    assert canceled["canceled_at"]


def test_cancel_a_finished_run_is_a_conflict(org, api, credential, worker):
    created = start(api, make_task(org, prompt=""), credential)
    eventually(lambda: run_in(created["id"], S.COMPLETED), "the run completes")
    response = api.post(f"/v2/task-runs/{created['id']}/cancel")
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "state_conflict"
    assert run_in(created["id"], S.COMPLETED)


# -- a worker killed mid-run --------------------------------------------------------------


def kill_mid_run(api, org, credential, worker) -> str:
    created = start(api, make_task(org, prompt="sleep 30"), credential)
    eventually(lambda: run_in(created["id"], S.RUNNING), "the run starts")
    worker.kill()
    assert not worker.alive
    return created["id"]


def test_a_run_on_a_killed_worker_is_requeued_and_runs_again(
    org, api, credential, worker, workers, settings
):
    settings.DECK_RUN_LOST_AFTER_SECONDS = LOST_AFTER_SECONDS
    run_id = kill_mid_run(api, org, credential, worker)
    replacement = workers.ensure()
    assert replacement is not worker

    def running_again() -> TaskRun | None:
        run = run_in(run_id, S.RUNNING)
        return run if run is not None and run.attempts == 2 else None

    run = swept_until(running_again, "the lost run is requeued and claimed by the new worker")
    assert run.errors == []
    assert events(run_id, "task_run.queued") == events(run_id, "task_run.running") == 2
    assert re.search(r"execute_run\[[^\]]+\] received", replacement.log())

    assert api.post(f"/v2/task-runs/{run_id}/cancel").json()["status"] == "canceling"
    eventually(lambda: run_in(run_id, S.CANCELED), "the new worker stops the run")


def test_a_run_lost_more_than_max_attempts_fails_worker_lost(
    org, api, credential, worker, settings
):
    settings.DECK_RUN_LOST_AFTER_SECONDS = LOST_AFTER_SECONDS
    settings.DECK_RUN_MAX_ATTEMPTS = 1
    run_id = kill_mid_run(api, org, credential, worker)
    run = swept_until(lambda: run_in(run_id, S.FAILED), "the sweeper gives the run up")
    assert (run.errors[-1]["type"], run.errors[-1]["code"]) == ("api", "worker_lost")
    assert (run.attempts, run.result) == (1, "failure")
    assert events(run_id, "task_run.queued") == 1
    assert Session.objects.get(pk=run.session_id).status == "idle"


# -- duplicate deliveries and one credential ----------------------------------------------


def test_the_same_run_delivered_three_times_executes_once(org, api, credential, worker_two_slots):
    created = start(api, make_task(org, prompt='sleep 0.5\noutput {"amount_due": 3}'), credential)
    duplicates = [execute_run.apply_async(args=(created["id"],)).id for _ in range(2)]
    run = eventually(lambda: run_in(created["id"], S.COMPLETED), "the run completes")
    for message_id in duplicates:
        eventually(
            lambda message_id=message_id: re.search(
                rf"execute_run\[{message_id}\] succeeded", worker_two_slots.log()
            ),
            f"the worker handles duplicate {message_id}",
        )
    run.refresh_from_db()
    assert (run.status, run.attempts, run.output) == (S.COMPLETED, 1, {"amount_due": 3})
    assert events(run.id, "task_run.running") == 1
    assert events(run.id, "task_run.completed") == 1


def test_two_runs_on_one_credential_never_drive_the_source_at_once(
    org, api, credential, worker_two_slots
):
    task = make_task(org, prompt="sleep 2")
    ids = [start(api, task, credential)["id"] for _ in range(2)]
    eventually(
        lambda: TaskRun.objects.filter(pk__in=ids, status=S.COMPLETED).count() == 2,
        "both runs complete",
    )
    first, second = TaskRun.objects.filter(pk__in=ids).order_by("started_at")
    assert first.finished_at <= second.started_at, "the two runs overlapped"
    assert (first.attempts, second.attempts) == (1, 1)
