"""Stage counting under concurrency: every success counts, each stage is crossed once."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from deck.events.models import Event
from tasks.models import Task
from tasks.runs import task_record_success
from tests.api.factories import make_task


@pytest.mark.django_db(transaction=True)
def test_concurrent_successes_are_all_counted(org):
    task = make_task(org)
    start = threading.Barrier(6)
    failures: list[BaseException] = []

    def succeed() -> None:
        try:
            start.wait(timeout=10)
            task_record_success(task_id=task.id)
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=succeed) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert failures == []
    task.refresh_from_db()
    assert (task.status, task.stage_successes) == (Task.Status.LIVE, 0)
    promotions = Event.objects.filter(type="task.updated", data__id=task.id)
    assert sorted(event.data["status"] for event in promotions) == ["live", "test"]
