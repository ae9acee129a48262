from __future__ import annotations

import contextlib
import time
from collections.abc import Generator, Iterator

import pytest

from tasks.errors import StateConflict
from tasks.models import TaskRun
from tasks.runs import run_cancel
from tests.tasks.worker import Worker, Workers, broker_purge

WORKER_LOGS = pytest.StashKey[tuple[Workers, dict[str, int]]]()
SETTLE_SECONDS = 15


@pytest.fixture(scope="module")
def workers(django_db_setup, tmp_path_factory) -> Iterator[Workers]:
    """One worker at a time for the module, restarted only when a test needs another
    (after a kill, or for another concurrency). ``django_db_setup`` first: the worker is
    pointed at the test database."""
    broker_purge()
    manager = Workers(tmp_path_factory.mktemp("workers"))
    yield manager
    manager.discard()
    broker_purge()


def _worker(workers: Workers, request: pytest.FixtureRequest, concurrency: int) -> Iterator[Worker]:
    request.node.stash[WORKER_LOGS] = (workers, workers.mark())
    yield workers.ensure(concurrency=concurrency)
    _settle(workers)


def _settle(workers: Workers) -> None:
    """Stops what the test left unfinished before its rows are flushed, so the next test
    gets an idle worker; a worker that does not get there is replaced."""
    for run in TaskRun.objects.exclude(status__in=TaskRun.TERMINAL).select_related("organization"):
        with contextlib.suppress(StateConflict):  # it finished meanwhile
            run_cancel(organization=run.organization, run_id=run.id)
    deadline = time.monotonic() + SETTLE_SECONDS
    busy = TaskRun.objects.filter(status__in=[TaskRun.Status.RUNNING, TaskRun.Status.CANCELING])
    while busy.exists():
        if time.monotonic() > deadline or workers.current is None or not workers.current.alive:
            workers.discard()
            return
        time.sleep(0.1)


@pytest.fixture
def worker(workers, transactional_db, request) -> Iterator[Worker]:
    """A live one-slot worker; whatever the test leaves running is canceled afterwards."""
    yield from _worker(workers, request, concurrency=1)


@pytest.fixture
def worker_two_slots(workers, transactional_db, request) -> Iterator[Worker]:
    yield from _worker(workers, request, concurrency=2)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and WORKER_LOGS in item.stash:
        workers, mark = item.stash[WORKER_LOGS]
        report.sections.append(("Celery worker log", workers.logs_since(mark) or "(empty)"))
    return report
