"""Dispatch bench: how soon a created run starts, and how fast a worker drains a backlog.

Creates a throwaway PostgreSQL database and var directory, migrates, starts gunicorn and a
real Celery worker (prefork, ``-Q runs,default``) on the Redis broker, with a planner that
does nothing (``bench.dispatch.TrivialPlanner``), so what is measured is the platform: API,
commit, publish, broker, claim, bookkeeping. Then:

(a) runs created one at a time through ``POST /v2/tasks/{id}/run``, each waited for until it
    finishes: created → started from the database's own timestamps, and the response → running
    delay a poller sees;
(b) a backlog created while the worker's ``runs`` consumer is paused, then drained: creation
    rate, drain time and rate, and the database work per run from ``pg_stat_database``;
(c) a sample of runs executed in this process under ``CaptureQueriesContext``: the exact SQL
    statements ``run_create`` and ``run_execute`` issue per run.

Server, worker, database, broker db and var directory are always cleaned up, Ctrl-C included.

    .venv/bin/python bench/dispatch.py
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import psycopg
import redis

# The sibling bench: this file runs as a script, so its directory is on sys.path (the
# worker gets it through PYTHONPATH).
from api import (
    CLOCK_TICKS,
    RATE_LIMIT,
    create_api_key,
    database_name,
    deck_env,
    free_port,
    fresh_database,
    gunicorn,
    load_average,
    manage,
    on_sigterm,
    process_cpu_seconds,
    process_tree,
    wait_ready,
)

if TYPE_CHECKING:
    from celery import Celery

    from tasks.agent.runtime import RunContext

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/deck_bench_dispatch"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/2"
PLANNER = "bench.dispatch.TrivialPlanner"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
UNFINISHED = ("queued", "running", "canceling", "interaction_required", "review_required")
POLL_SECONDS = 0.005  # phase (a): the poller's resolution
DRAIN_POLL_SECONDS = 1.0  # the drain's end comes from finished_at, not from the poll
# PostgreSQL 15 flushes a backend's counters at most once a second, and within about a second
# of going idle: wait this long before reading pg_stat_database.
STATS_SETTLE_SECONDS = 2.5
STAT_COLUMNS = (
    "xact_commit",
    "xact_rollback",
    "tup_returned",
    "tup_fetched",
    "tup_inserted",
    "tup_updated",
    "tup_deleted",
)
INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "account_number": {"type": "string", "pattern": "^[0-9]{6,12}$"},
        "start_date": {"type": "string", "format": "date"},
    },
    "required": ["account_number", "start_date"],
    "additionalProperties": False,
    "tokenized": ["account_number"],
}
OUTPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"ok": {"type": "boolean"}},
    "required": ["ok"],
}
RUN_INPUT = {"account_number": "12345678", "start_date": "2026-01-01"}


class TrivialPlanner:
    """The bench's agent: no browser and no steps, so only the platform's work is measured."""

    def run(self, context: RunContext) -> dict[str, Any]:
        return {"ok": True}


# -- measurements -------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


@dataclass
class Latency:
    """Phase (a); every list in milliseconds, one value per run."""

    post: list[float] = field(default_factory=list)
    created_started: list[float] = field(default_factory=list)
    created_running_event: list[float] = field(default_factory=list)
    created_dispatched: list[float] = field(default_factory=list)
    response_running_seen: list[float] = field(default_factory=list)
    started_finished: list[float] = field(default_factory=list)
    created_finished: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)


@dataclass
class Backlog:
    """Phase (b)."""

    runs: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    create_seconds: float = 0.0
    post: list[float] = field(default_factory=list)  # ms
    drain_seconds: float = 0.0
    first_start_ms: float = 0.0
    statuses: Counter[str] = field(default_factory=Counter)
    stats: dict[str, int] = field(default_factory=dict)  # pg_stat_database deltas
    tables: dict[str, tuple[int, ...]] = field(default_factory=dict)  # pg_stat_all_tables deltas
    own_transactions: int = 0
    worker_cpu: float = 0.0  # cores, during the drain
    postgres_cpu: float = 0.0
    drained: bool = False


@dataclass
class Sample:
    """Phase (c): statements per run, by first keyword."""

    create: list[Counter[str]] = field(default_factory=list)
    execute: list[Counter[str]] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    warm_ms: list[float] = field(default_factory=list)  # run_execute on an open connection
    cold_ms: list[float] = field(default_factory=list)  # after closing it, as Celery does


def ms_between(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return (later - earlier).total_seconds() * 1000


# -- environment --------------------------------------------------------------------------


def require_loopback(url: str, what: str) -> None:
    host = urlsplit(url).hostname or ""
    if host not in LOOPBACK:
        raise SystemExit(f"{what} must be on loopback, not {host!r}")


def libpq_url(url: str) -> str:
    parts = urlsplit(url)
    return url if parts.scheme == "postgresql" else "postgresql" + url[len(parts.scheme) :]


@contextmanager
def celery_worker(
    env: dict[str, str], *, name: str, concurrency: int, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [
                str(VENV_BIN / "celery"),
                "-A",
                "deck",
                "worker",
                "-Q",
                "runs,default",
                "-c",
                str(concurrency),
                "--pool",
                "prefork",
                "-n",
                name,
                "--without-gossip",
                "--without-mingle",
                "--loglevel",
                "WARNING",
            ],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield process
        finally:
            stop_group(process, grace=20)


def stop_group(process: subprocess.Popen[bytes], *, grace: float) -> None:
    """SIGTERM (a warm shutdown for Celery), then SIGKILL to whatever is left in its group."""
    if process.poll() is None:
        process.terminate()
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


def wait_worker(
    app: Celery, process: subprocess.Popen[bytes], name: str, log: Path, limit: float = 60
) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"celery worker exited ({process.returncode}):\n{log.read_text()}")
        if app.control.ping(destination=[name], timeout=1.0):
            return
    raise RuntimeError(f"celery worker not ready after {limit:.0f} s:\n{log.read_text()}")


def consumer(app: Celery, name: str, *, active: bool) -> None:
    """Pause or resume the worker's ``runs`` consumer (messages then wait in Redis)."""
    control = app.control.add_consumer if active else app.control.cancel_consumer
    replies = control("runs", destination=[name], reply=True, timeout=5.0)
    if not replies:
        raise RuntimeError(f"the worker did not answer {'add' if active else 'cancel'}_consumer")


def postmaster_pid(conn: psycopg.Connection[Any]) -> int:
    """The parent of this connection's backend."""
    row = conn.execute("SELECT pg_backend_pid()").fetchone()
    assert row is not None
    stat = Path(f"/proc/{row[0]}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def tree_cpu_seconds(root: int) -> float:
    """CPU of ``root``, of its live children and of the children it has reaped: a backend
    that exits during the window (one per job, see the report) still counts."""
    try:
        fields = Path(f"/proc/{root}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    own = sum(int(value) for value in fields[11:15]) / CLOCK_TICKS  # utime stime cutime cstime
    return own + process_cpu_seconds(process_tree(root)[1:])


def table_reads(conn: psycopg.Connection[Any]) -> dict[str, tuple[int, int, int, int]]:
    """Per table, catalogs included: sequential scans, rows they read, index scans, rows
    fetched through indexes."""
    rows = conn.execute(
        "SELECT schemaname || '.' || relname, seq_scan, seq_tup_read, "
        "coalesce(idx_scan, 0), coalesce(idx_tup_fetch, 0) FROM pg_stat_all_tables"
    ).fetchall()
    return {name: (int(a), int(b), int(c), int(d)) for name, a, b, c, d in rows}


def database_stats(conn: psycopg.Connection[Any]) -> dict[str, int]:
    columns = ", ".join(STAT_COLUMNS)
    row = conn.execute(
        f"SELECT {columns} FROM pg_stat_database WHERE datname = current_database()"
    ).fetchone()
    assert row is not None
    return dict(zip(STAT_COLUMNS, (int(value) for value in row), strict=True))


# -- the API ------------------------------------------------------------------------------


def create_fixtures(client: httpx.Client) -> tuple[str, str]:
    agent = client.post("/v2/agents", json={"name": "Dispatch bench"})
    agent.raise_for_status()
    source = client.post(
        "/v2/sources",
        json={"name": "Bench bank", "type": "website", "website": {"url": "https://bank.test"}},
    )
    source.raise_for_status()
    task = client.post(
        "/v2/tasks",
        json={
            "name": "Bench dispatch",
            "agent_id": agent.json()["id"],
            "prompt": "Return ok.",
            "input_schema": INPUT_SCHEMA,
            "output_schema": OUTPUT_SCHEMA,
        },
    )
    task.raise_for_status()
    return task.json()["id"], source.json()["id"]


def post_run(client: httpx.Client, task_id: str, source_id: str) -> httpx.Response:
    # A source, not a credential: runs on one credential are serialized by design (the source
    # must never see two at once), which would measure that rule instead of the dispatch.
    return client.post(
        f"/v2/tasks/{task_id}/run", json={"source_id": source_id, "input": RUN_INPUT}
    )


# -- phase (a) ----------------------------------------------------------------------------


def measure_latency(
    client: httpx.Client,
    conn: psycopg.Connection[Any],
    *,
    task_id: str,
    source_id: str,
    runs: int,
    result: Latency | None = None,
) -> Latency:
    """One run at a time, each waited for until it has finished, so the system is idle when
    the next one is created."""
    result = result or Latency()
    for _ in range(runs):
        before = time.perf_counter()
        response = post_run(client, task_id, source_id)
        answered = time.perf_counter()
        if response.status_code != 201:
            raise RuntimeError(f"POST run answered {response.status_code}: {response.text[:300]}")
        run_id = response.json()["id"]
        seen: float | None = None
        deadline = answered + 30
        while True:
            row = conn.execute(
                "SELECT started_at, finished_at FROM tasks_taskrun WHERE id = %s", (run_id,)
            ).fetchone()
            now = time.perf_counter()
            if row is not None and row[0] is not None and seen is None:
                seen = now
            if row is not None and row[1] is not None:
                break
            if now > deadline:
                raise RuntimeError(f"run {run_id} did not finish within 30 s")
            time.sleep(POLL_SECONDS)
        row = conn.execute(
            "SELECT status, created_at, dispatched_at, started_at, finished_at "
            "FROM tasks_taskrun WHERE id = %s",
            (run_id,),
        ).fetchone()
        assert row is not None
        status, created, dispatched, started, finished = row
        event = conn.execute(
            "SELECT min(created_at) FROM events_event WHERE type = 'task_run.running' "
            "AND data->>'id' = %s",
            (run_id,),
        ).fetchone()
        result.statuses[status] += 1
        result.post.append((answered - before) * 1000)
        assert seen is not None
        result.response_running_seen.append((seen - answered) * 1000)
        for values, later, earlier in (
            (result.created_started, started, created),
            (result.created_running_event, event[0] if event else None, created),
            (result.created_dispatched, dispatched, created),
            (result.started_finished, finished, started),
            (result.created_finished, finished, created),
        ):
            value = ms_between(later, earlier)
            if value is not None:
                values.append(value)
    return result


# -- phase (b) ----------------------------------------------------------------------------


def create_backlog(
    base_url: str, api_key: str, *, task_id: str, source_id: str, runs: int, threads: int
) -> tuple[list[str], Backlog]:
    result = Backlog(runs=runs)
    ids: list[str] = []
    lock = threading.Lock()
    remaining = iter(range(runs))

    def client_thread() -> None:
        created: list[str] = []
        latencies: list[float] = []
        errors: Counter[str] = Counter()
        with httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
        ) as client:
            while True:
                with lock:
                    if next(remaining, None) is None:
                        break
                before = time.perf_counter()
                try:
                    response = post_run(client, task_id, source_id)
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] += 1
                    continue
                latencies.append((time.perf_counter() - before) * 1000)
                if response.status_code == 201:
                    created.append(response.json()["id"])
                else:
                    errors[f"HTTP {response.status_code}"] += 1
        with lock:
            ids.extend(created)
            result.post.extend(latencies)
            result.errors.update(errors)

    workers = [threading.Thread(target=client_thread, daemon=True) for _ in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=600)
    result.create_seconds = time.perf_counter() - start
    return ids, result


def drain_backlog(
    app: Celery,
    name: str,
    conn: psycopg.Connection[Any],
    *,
    ids: list[str],
    result: Backlog,
    worker_pid: int,
    postgres_pid: int,
    limit: float,
) -> None:
    time.sleep(STATS_SETTLE_SECONDS)  # let the creation phase's counters land first
    before = database_stats(conn)
    tables_before = table_reads(conn)
    own = 2  # the transactions that read ``before`` are counted in ``after``
    cpu_worker, cpu_pg = tree_cpu_seconds(worker_pid), tree_cpu_seconds(postgres_pid)
    resumed = datetime.now(UTC)
    clock = time.perf_counter()
    consumer(app, name, active=True)
    deadline = clock + limit
    while time.perf_counter() < deadline:
        # Every run in the database is the bench's and the earlier ones have ended: drained
        # when no unfinished run is left (one index probe, so the poll barely shows in (b)).
        row = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM tasks_taskrun WHERE status = ANY(%s))",
            (list(UNFINISHED),),
        ).fetchone()
        own += 1
        if row is not None and not row[0]:
            result.drained = True
            break
        time.sleep(DRAIN_POLL_SECONDS)
    elapsed = time.perf_counter() - clock
    result.worker_cpu = (tree_cpu_seconds(worker_pid) - cpu_worker) / elapsed
    result.postgres_cpu = (tree_cpu_seconds(postgres_pid) - cpu_pg) / elapsed
    row = conn.execute(
        "SELECT min(started_at), max(finished_at) FROM tasks_taskrun WHERE id = ANY(%s)", (ids,)
    ).fetchone()
    own += 1
    assert row is not None
    first_start, last_finish = row
    result.first_start_ms = ms_between(first_start, resumed) or math.nan
    last_ms = ms_between(last_finish, resumed)
    result.drain_seconds = (last_ms / 1000) if last_ms is not None else math.nan
    for status, count in conn.execute(
        "SELECT status, count(*) FROM tasks_taskrun WHERE id = ANY(%s) GROUP BY status", (ids,)
    ).fetchall():
        result.statuses[status] = count
    own += 1
    time.sleep(STATS_SETTLE_SECONDS)
    after = database_stats(conn)
    result.stats = {column: after[column] - before[column] for column in STAT_COLUMNS}
    zero = (0, 0, 0, 0)
    result.tables = {
        name: tuple(a - b for a, b in zip(counts, tables_before.get(name, zero), strict=True))
        for name, counts in table_reads(conn).items()
    }
    result.own_transactions = own


# -- phase (c) ----------------------------------------------------------------------------


def statement_kinds(queries: list[dict[str, Any]]) -> Counter[str]:
    return Counter(query["sql"].split(None, 1)[0].upper() for query in queries)


def sample_queries(*, task_id: str, source_id: str, runs: int) -> Sample:
    """In this process (the worker's ``runs`` consumer is paused, so nothing races the
    claim): ``run_create`` then ``run_execute``, each under ``CaptureQueriesContext``."""
    from django.db import connection, connections
    from django.test.utils import CaptureQueriesContext

    from deck.models import Organization
    from tasks.execution import run_execute
    from tasks.runs import run_create

    organization = Organization.objects.get(slug="bench")
    sample = Sample()
    for n in range(runs):
        with CaptureQueriesContext(connection) as created:
            run = run_create(
                organization=organization, task_id=task_id, input=RUN_INPUT, source_id=source_id
            )
        cold = n % 2 == 1
        if cold:
            # Celery's Django fixup closes every connection before and after each job.
            connections.close_all()
        started = time.perf_counter()
        with CaptureQueriesContext(connection) as executed:
            sample.outcomes[run_execute(run.id)] += 1
        (sample.cold_ms if cold else sample.warm_ms).append((time.perf_counter() - started) * 1000)
        sample.create.append(statement_kinds(created.captured_queries))
        sample.execute.append(statement_kinds(executed.captured_queries))
    return sample


# -- report -------------------------------------------------------------------------------


def table(headers: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]

    def line(cells: tuple[str, ...]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))
        return "  ".join((first, *rest))

    print(line(headers))
    print("  ".join("-" * width for width in widths))
    for row in rows:
        print(line(row))


def report_latency(latency: Latency, *, runs: int) -> None:
    print(f"\n(a) created -> running, {runs} runs created one at a time through the API")
    rows = []
    for label, values in (
        ("POST /v2/tasks/{id}/run, client round trip", latency.post),
        ("created_at -> started_at (server clocks)", latency.created_started),
        ("created_at -> task_run.running event", latency.created_running_event),
        ("  created_at -> dispatched_at (publish done)", latency.created_dispatched),
        ("response -> started_at seen by a 5 ms poller", latency.response_running_seen),
        ("started_at -> finished_at (execution)", latency.started_finished),
        ("created_at -> finished_at", latency.created_finished),
    ):
        rows.append(
            (
                label,
                str(len(values)),
                *(f"{percentile(values, q):.1f}" for q in (0.5, 0.9, 0.99)),
                f"{max(values, default=math.nan):.1f}",
            )
        )
    table(("measure", "runs", "p50 ms", "p90 ms", "p99 ms", "max ms"), rows)
    print(f"final statuses: {dict(latency.statuses)}")


def report_backlog(backlog: Backlog, *, threads: int) -> None:
    created = len(backlog.post) - sum(backlog.errors.values())
    drained = backlog.runs and backlog.drain_seconds
    print(f"\n(b) backlog of {backlog.runs} runs: created with the worker paused, then drained")
    stats = backlog.stats
    xacts = stats.get("xact_commit", 0) - backlog.own_transactions
    per_run = max(1, created)
    steady = backlog.drain_seconds - backlog.first_start_ms / 1000
    rows = [
        ("runs created (201)", f"{created}", f"errors: {dict(backlog.errors) or 0}"),
        (
            "creation",
            f"{backlog.create_seconds:.2f} s",
            f"{created / backlog.create_seconds:.1f} runs/s, {threads} client threads",
        ),
        (
            "POST latency during creation",
            f"p50 {percentile(backlog.post, 0.5):.1f} ms",
            f"p99 {percentile(backlog.post, 0.99):.1f} ms",
        ),
        (
            "drain (resume -> last finished_at)",
            f"{backlog.drain_seconds:.2f} s",
            f"{created / drained:.1f} runs/s" if drained else "not drained",
        ),
        (
            "first started_at after resume",
            f"{backlog.first_start_ms:.1f} ms",
            "control command + consumer restart",
        ),
        (
            "steady drain (first start -> last finish)",
            f"{steady:.2f} s",
            f"{created / steady:.1f} runs/s" if steady > 0 else "",
        ),
        ("final statuses", str(dict(backlog.statuses)), ""),
        (
            "CPU during drain (cores)",
            f"worker {backlog.worker_cpu:.2f}",
            f"postgres {backlog.postgres_cpu:.2f}",
        ),
        ("DB transactions committed / run", f"{xacts / per_run:.2f}", f"{xacts} in all"),
    ]
    for column in STAT_COLUMNS[1:]:
        rows.append((f"DB {column} / run", f"{stats.get(column, 0) / per_run:.2f}", ""))
    table(("measure", "value", "detail"), rows)
    busiest = sorted(backlog.tables.items(), key=lambda item: -(item[1][1] + item[1][3]))[:6]
    print("rows read during the drain, per run, busiest tables (pg_stat_all_tables):")
    table(
        ("table", "seq scans", "seq rows", "idx scans", "idx rows"),
        [(name, *(f"{count / per_run:.2f}" for count in counts)) for name, counts in busiest],
    )


def report_sample(sample: Sample) -> None:
    print(
        f"\n(c) SQL statements per run, {len(sample.execute)} runs in process "
        f"(outcomes {dict(sample.outcomes)})"
    )
    rows = []
    for label, counters in (
        ("run_create (API side)", sample.create),
        ("run_execute (worker side)", sample.execute),
    ):
        totals = [sum(counter.values()) for counter in counters]
        kinds: Counter[str] = Counter()
        for counter in counters:
            kinds.update(counter)
        mix = ", ".join(
            f"{kind} {count / len(counters):.1f}" for kind, count in kinds.most_common()
        )
        rows.append(
            (
                label,
                f"{sum(totals) / len(totals):.1f}",
                f"{min(totals)}-{max(totals)}",
                mix,
            )
        )
    table(("code path", "mean", "range", "mean by statement"), rows)
    print(
        f"run_execute wall time in process: open connection p50 "
        f"{percentile(sample.warm_ms, 0.5):.1f} ms ({len(sample.warm_ms)} runs), new connection "
        f"p50 {percentile(sample.cold_ms, 0.5):.1f} ms ({len(sample.cold_ms)} runs)"
    )


def print_method(args: argparse.Namespace) -> None:
    print(
        "\nmethod: (a) the app's own timestamps: created_at and dispatched_at (after the broker "
        "took the message) from gunicorn; started_at and the task_run.running event from the "
        "worker. started_at is read from the clock before the job's first query, hence before "
        "its database connection is opened; the running event is written inside the claim "
        "transaction, and the poller sees started_at once that commits. (b) "
        "pg_stat_database / pg_stat_all_tables deltas over the drain window (read after a "
        f"{STATS_SETTLE_SECONDS:g} s settle: PostgreSQL flushes backend counters about once a "
        "second), divided by the runs drained, the bench's own polling transactions "
        "subtracted (their reads are not: the tasks_taskrun seq scans are those polls); "
        "gunicorn is idle then, so the rest is the worker, plus autovacuum. "
        "Celery's Django fixup closes every connection before and after each job, so each job "
        "opens a connection whose backend reads the catalogs afresh (the pg_catalog rows). "
        "CPU counts exited processes too (through their parent's reaped-children time). (c) "
        "the statements Django's debug cursor records (BEGIN/COMMIT and savepoints included), "
        "not connection set-up; alternate runs close the connection first, as Celery does."
    )
    print(
        f"setup: gunicorn {args.workers}x{args.gunicorn_threads}, "
        f"celery prefork -c {args.concurrency}, "
        f"PostgreSQL and Redis on loopback, {os.cpu_count()} CPU cores shared by all of them "
        f"and this script; DECK_SESSION_LIMIT raised so a {args.backlog}-run backlog is "
        "accepted; runs target a source (no credential)."
    )


# -- main ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--latency-runs", type=int, default=200, help="phase (a) runs")
    parser.add_argument("--warmup-runs", type=int, default=10, help="uncounted runs first")
    parser.add_argument("--backlog", type=int, default=1000, help="phase (b) runs")
    parser.add_argument("--sample", type=int, default=20, help="phase (c) runs")
    parser.add_argument("--threads", type=int, default=4, help="client threads creating (b)")
    parser.add_argument("--concurrency", type=int, default=2, help="celery worker processes")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--gunicorn-threads", type=int, default=4, help="threads per worker")
    parser.add_argument(
        "--max-drain-seconds", type=float, default=600, help="give up draining after this"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DECK_BENCH_DISPATCH_DATABASE_URL", DEFAULT_DATABASE_URL),
        help="database to (re)create and drop; its name must contain 'bench'",
    )
    parser.add_argument(
        "--broker-url",
        default=DEFAULT_BROKER_URL,
        help="Redis database used as the broker; it is flushed before and after",
    )
    args = parser.parse_args(argv)
    if min(args.latency_runs, args.backlog, args.sample, args.threads, args.concurrency) < 1:
        parser.error("run counts, --threads and --concurrency must be positive")
    database_name(args.database_url)
    require_loopback(args.database_url, "the database")
    require_loopback(args.broker_url, "the broker")
    if not urlsplit(args.broker_url).scheme.startswith("redis"):
        parser.error("--broker-url must be a redis:// URL")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, on_sigterm)
    var_dir = Path(tempfile.mkdtemp(prefix="deck-bench-dispatch-"))
    env = {
        **os.environ,
        **deck_env(
            args.database_url,
            var_dir,
            CELERY_BROKER_URL=args.broker_url,
            DECK_AGENT_PLANNER=PLANNER,
            DECK_RATE_LIMIT_REQUESTS=RATE_LIMIT,
            DECK_SESSION_LIMIT=str(args.backlog * 10),
            # The worker imports the planner as bench.dispatch, which imports its sibling api.
            PYTHONPATH=os.pathsep.join(
                filter(None, [str(ROOT), str(ROOT / "bench"), os.environ.get("PYTHONPATH")])
            ),
        ),
    }
    # This process uses the same settings for the control commands and for phase (c), where
    # it plays the worker and so imports the planner as bench.dispatch too.
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    broker = redis.Redis.from_url(args.broker_url)
    broker.flushdb()
    name = f"bench-dispatch-{os.getpid()}@{socket.gethostname()}"
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    latency = Latency()
    backlog: Backlog | None = None
    sample: Sample | None = None
    try:
        with fresh_database(args.database_url):
            print(f"database {database_name(args.database_url)}, var dir {var_dir}", flush=True)
            manage(env, "migrate", "--noinput")
            api_key = create_api_key(env)
            import django

            django.setup()
            from django.db import connections

            from deck.celery import app

            try:
                with (
                    gunicorn(
                        env,
                        port=port,
                        workers=args.workers,
                        threads=args.gunicorn_threads,
                        log=var_dir / "gunicorn.log",
                    ) as server,
                    celery_worker(
                        env,
                        name=name,
                        concurrency=args.concurrency,
                        log=var_dir / "worker.log",
                    ) as worker,
                    psycopg.connect(libpq_url(args.database_url), autocommit=True) as conn,
                    httpx.Client(
                        base_url=base_url,
                        headers={"Authorization": f"Bearer {api_key}"},
                        timeout=30,
                    ) as client,
                ):
                    wait_ready(server, base_url, api_key, var_dir / "gunicorn.log")
                    wait_worker(app, worker, name, var_dir / "worker.log")
                    task_id, source_id = create_fixtures(client)
                    print(f"load average before: {load_average()}", flush=True)
                    print("warming up ...", file=sys.stderr, flush=True)
                    measure_latency(
                        client, conn, task_id=task_id, source_id=source_id, runs=args.warmup_runs
                    )
                    print("(a) latency ...", file=sys.stderr, flush=True)
                    measure_latency(
                        client,
                        conn,
                        task_id=task_id,
                        source_id=source_id,
                        runs=args.latency_runs,
                        result=latency,
                    )
                    print("(b) backlog: creating ...", file=sys.stderr, flush=True)
                    consumer(app, name, active=False)
                    ids, backlog = create_backlog(
                        base_url,
                        api_key,
                        task_id=task_id,
                        source_id=source_id,
                        runs=args.backlog,
                        threads=args.threads,
                    )
                    print("(b) backlog: draining ...", file=sys.stderr, flush=True)
                    drain_backlog(
                        app,
                        name,
                        conn,
                        ids=ids,
                        result=backlog,
                        worker_pid=worker.pid,
                        postgres_pid=postmaster_pid(conn),
                        limit=args.max_drain_seconds,
                    )
                    print("(c) statements per run ...", file=sys.stderr, flush=True)
                    consumer(app, name, active=False)
                    sample = sample_queries(task_id=task_id, source_id=source_id, runs=args.sample)
                    for process, log_name in ((server, "gunicorn"), (worker, "worker")):
                        if process.poll() is not None:
                            log = (var_dir / f"{log_name}.log").read_text()
                            raise RuntimeError(f"{log_name} died:\n{log}")
            finally:
                connections.close_all()
    except KeyboardInterrupt:
        print("interrupted; server and worker stopped, database dropped", file=sys.stderr)
        return 130
    finally:
        with suppress(redis.RedisError):
            broker.flushdb()
        shutil.rmtree(var_dir, ignore_errors=True)
    report_latency(latency, runs=args.latency_runs)
    if backlog is not None:
        report_backlog(backlog, threads=args.threads)
    if sample is not None:
        report_sample(sample)
    print_method(args)
    print(f"load average at the end: {load_average()} (other work on the machine skews results)")
    ok = backlog is not None and backlog.drained and not backlog.errors
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
