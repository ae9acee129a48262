"""Real Celery worker processes for the fault tests.

A worker is ``celery -A deck worker`` in its own process group, on the test database and the
test process's broker, with the scripted planner and heartbeat timings short enough for a
test. It only sees committed rows, so the tests that use it are transactional.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from django.conf import settings
from django.db import connection

from deck.celery import app as celery_app

QUEUES = ("runs", "default")
HEARTBEAT_SECONDS = 1
LOST_AFTER_SECONDS = 3
READY_TIMEOUT_SECONDS = 30
STOP_TIMEOUT_SECONDS = 10


def database_url(settings_dict: Mapping[str, Any]) -> str:
    """The ``DATABASE_URL`` that makes a subprocess open the database this process uses."""
    engine = settings_dict["ENGINE"]
    if engine == "django.db.backends.postgresql":
        auth = quote(settings_dict.get("USER") or "", safe="")
        if settings_dict.get("PASSWORD"):
            auth += ":" + quote(settings_dict["PASSWORD"], safe="")
        location = settings_dict.get("HOST") or ""
        if settings_dict.get("PORT"):
            location += f":{settings_dict['PORT']}"
        options = {k: v for k, v in settings_dict.get("OPTIONS", {}).items() if isinstance(v, str)}
        query = f"?{urlencode(options)}" if options else ""
        return f"postgres://{auth}@{location}/{quote(settings_dict['NAME'], safe='')}{query}"
    if engine == "django.db.backends.sqlite3":
        # deck.environment reads sqlite:///<absolute path> back to exactly this NAME.
        return "sqlite://" + str(Path(settings_dict["NAME"]).resolve())
    raise ValueError(f"No DATABASE_URL form for {engine}")


def worker_environment() -> dict[str, str]:
    return {
        **os.environ,
        # CELERY_BROKER_URL (or, without it, the filesystem broker under DECK_VAR_DIR) comes
        # through os.environ, so the worker consumes from the broker this process publishes to.
        "DATABASE_URL": database_url(connection.settings_dict),
        "DECK_AGENT_PLANNER": "tests.tasks.planners.ScriptedPlanner",
        "DECK_RUN_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
        "DECK_RUN_LOST_AFTER_SECONDS": str(LOST_AFTER_SECONDS),
        # Job receipts and results in the log: the tests wait on some, and a failure shows them.
        "DECK_CELERY_JOB_LOG_LEVEL": "INFO",
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(settings.BASE_DIR), os.environ.get("PYTHONPATH")])
        ),
    }


def broker_purge() -> int:
    """Drops every message waiting in the worker's queues, e.g. left by an earlier test."""
    with celery_app.connection_for_write() as broker:
        channel: Any = broker.default_channel
        return sum(int(channel.queue_purge(queue) or 0) for queue in QUEUES)


class Worker:
    def __init__(self, *, concurrency: int, log_path: Path) -> None:
        self.concurrency = concurrency
        self.name = f"test-{uuid.uuid4().hex[:8]}"
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        return f"<Worker {self.name} -c {self.concurrency}>"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self, since: int = 0) -> str:
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as handle:
            handle.seek(since)
            return handle.read().decode(errors="replace")

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def start(self) -> None:
        """Returns once the worker consumes; raises with its log if it does not get there."""
        command = [
            str(Path(sys.executable).with_name("celery")),
            "-A",
            "deck",
            "worker",
            "-Q",
            ",".join(QUEUES),
            "-c",
            str(self.concurrency),
            "--pool",
            "prefork",
            "-l",
            "info",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "-n",
            f"{self.name}@%h",
        ]
        with self.log_path.open("wb") as log:
            # A session of its own, so a SIGKILL of the group takes the pool children too.
            self.process = subprocess.Popen(
                command,
                cwd=settings.BASE_DIR,
                env=worker_environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        ready = re.compile(rf"{re.escape(self.name)}@\S+ ready\.")
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while not ready.search(self.log()):
            if not self.alive:
                raise RuntimeError(f"{self} exited before it was ready:\n{self.log()}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"{self} not ready in {READY_TIMEOUT_SECONDS}s:\n{self.log()}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL to the whole process group: no warm shutdown, no message rejected."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):  # the whole group is gone already
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT_SECONDS)

    def stop(self) -> None:
        """Warm shutdown, then SIGKILL for whatever is left of the group."""
        if self.process is None:
            return
        if self.alive:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        self.kill()


class Workers:
    """At most one live worker at a time, so a test knows which process runs its runs."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.current: Worker | None = None
        self.started: list[Worker] = []

    def ensure(self, *, concurrency: int = 1) -> Worker:
        """The live worker with this concurrency, started (replacing any other) if needed."""
        current = self.current
        if current is not None and current.alive and current.concurrency == concurrency:
            return current
        self.discard()
        worker = Worker(
            concurrency=concurrency, log_path=self.log_dir / f"worker-{len(self.started) + 1}.log"
        )
        self.started.append(worker)
        self.current = worker
        worker.start()
        return worker

    def discard(self) -> None:
        if self.current is not None:
            self.current.stop()
            self.current = None

    def mark(self) -> dict[str, int]:
        return {worker.name: worker.log_size() for worker in self.started}

    def logs_since(self, mark: Mapping[str, int]) -> str:
        """What every worker logged after ``mark``; workers started since, in full."""
        return "\n".join(
            f"----- {worker} -----\n{worker.log(since=mark.get(worker.name, 0))}"
            for worker in self.started
            if worker.log_size() > mark.get(worker.name, 0)
        )
