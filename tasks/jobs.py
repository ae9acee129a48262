from __future__ import annotations

import time
from typing import Any

from celery import shared_task
from celery.signals import worker_process_shutdown

from tasks.agent.browser import browser_pool_close
from tasks.execution import BUSY, run_execute, runs_sweep
from tasks.runs import run_dispatch

# How long a run waits before trying again when its credential is busy with another run.
BUSY_RETRY_SECONDS = 3


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def execute_run(run_id: str) -> str:
    """Queue ``runs``. Receives only the id; secrets are revealed inside. Duplicate deliveries
    are harmless: the conditional claim lets one through."""
    started = time.monotonic()
    outcome = run_execute(run_id)
    if outcome == BUSY:
        run_dispatch(run_id, countdown=BUSY_RETRY_SECONDS)
    else:
        from tasks.fanout import fanout_continue

        fanout_continue(run_id, started=started)
    return outcome


@shared_task(ignore_result=True)
def sweep_runs() -> dict[str, int]:
    """Beat, every few seconds: timeouts, lost workers, expired interactions, the outbox."""
    return runs_sweep()


@worker_process_shutdown.connect
def close_browser(**kwargs: Any) -> None:
    """Each worker process owns one Chromium (launched after the fork): close it on exit."""
    browser_pool_close()
