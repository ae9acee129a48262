"""Load bench for the /v2 API against a production-like server.

Creates a throwaway PostgreSQL database and var directory, migrates, mints an API key,
starts gunicorn (DEBUG off, raised rate limit), then drives ``GET /v2/tasks/{id}`` and
``POST /v2/tasks`` at each concurrency level for a fixed time and prints a table. The server
and the database are always cleaned up, Ctrl-C included.

    .venv/bin/python bench/api.py --duration 8 --concurrency 1,8,32
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/deck_bench"
RATE_LIMIT = "10000000"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "account_number": {"type": "string", "pattern": "^[0-9]{6,12}$"},
        "start_date": {"type": "string", "format": "date"},
        "end_date": {"type": "string", "format": "date"},
        "include_pending": {"type": "boolean", "default": False},
    },
    "required": ["account_number", "start_date"],
    "additionalProperties": False,
    "tokenized": ["account_number"],
}
OUTPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "balance": {"type": "number"},
        "currency": {"type": "string", "minLength": 3, "maxLength": 3},
        "transactions": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "date": {"type": "string", "format": "date"},
                    "description": {"type": "string"},
                    "amount": {"type": "number"},
                    "pending": {"type": "boolean"},
                },
                "required": ["date", "amount"],
            },
        },
    },
    "required": ["balance", "currency"],
}
PROMPT = (
    "Log in, open the account matching the account number, download the statement for the "
    "requested period and report the balance, the currency and every transaction."
)


# -- measurements -------------------------------------------------------------------------


@dataclass
class Result:
    endpoint: str
    concurrency: int
    elapsed: float
    latencies: list[float] = field(default_factory=list)  # seconds, successful or not
    errors: Counter[str] = field(default_factory=Counter)
    samples: dict[str, str] = field(default_factory=dict)  # first body seen per error kind
    client_cpu: float = 0.0  # load generator, in cores
    server_cpu: float = 0.0  # gunicorn master and workers, in cores

    @property
    def requests(self) -> int:
        return len(self.latencies)

    def percentile_ms(self, fraction: float) -> float:
        if not self.latencies:
            return math.nan
        ordered = sorted(self.latencies)
        index = max(0, math.ceil(fraction * len(ordered)) - 1)
        return ordered[index] * 1000


def process_cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of the given processes, from /proc (0 for a process that is gone)."""
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def process_tree(root: int) -> list[int]:
    """``root`` and its direct children (gunicorn's master and its workers)."""
    pids = [root]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == root:
            pids.append(int(entry.name))
    return pids


# -- load ---------------------------------------------------------------------------------


RequestFactory = Callable[[httpx.Client, int], httpx.Response]


def get_task(task_id: str) -> RequestFactory:
    def send(client: httpx.Client, _n: int) -> httpx.Response:
        return client.get(f"/v2/tasks/{task_id}")

    return send


def post_task(agent_id: str, run: str) -> RequestFactory:
    def send(client: httpx.Client, n: int) -> httpx.Response:
        body = {
            "name": f"Bench statement {run}-{n}",
            "agent_id": agent_id,
            "prompt": PROMPT,
            "input_schema": INPUT_SCHEMA,
            "output_schema": OUTPUT_SCHEMA,
        }
        return client.post("/v2/tasks", json=body)

    return send


def run_load(
    *,
    base_url: str,
    api_key: str,
    endpoint: str,
    send: RequestFactory,
    concurrency: int,
    duration: float,
    warmup: float,
    max_requests: int,
    timeout: float,
    server_pids: list[int],
) -> Result:
    """``concurrency`` threads, each with its own keep-alive client, for ``duration`` seconds.

    The first ``warmup`` seconds (connections, worker start-up) are not counted. The run stops
    at the deadline or after ``max_requests`` counted requests, whichever comes first.
    """
    result = Result(endpoint=endpoint, concurrency=concurrency, elapsed=0.0)
    lock = threading.Lock()
    counter = iter(range(sys.maxsize))
    issued = 0
    barrier = threading.Barrier(concurrency + 1)
    window: dict[str, float] = {}

    def worker() -> None:
        nonlocal issued
        latencies: list[float] = []
        errors: Counter[str] = Counter()
        samples: dict[str, str] = {}
        with httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        ) as client:
            barrier.wait()
            start, end = window["start"], window["end"]
            while True:
                before = time.perf_counter()
                if before >= end:
                    break
                counted = before >= start
                if counted:
                    with lock:
                        if issued >= max_requests:
                            break
                        issued += 1
                kind = ""
                detail = ""
                try:
                    response = send(client, next(counter))
                    if not response.is_success:
                        kind = f"HTTP {response.status_code}"
                        detail = response.text[:300]
                except httpx.HTTPError as exc:
                    kind = type(exc).__name__
                    detail = str(exc)[:300]
                elapsed = time.perf_counter() - before
                if kind:
                    time.sleep(0.01)  # a dead server must not turn into a busy loop
                if counted:
                    latencies.append(elapsed)
                    if kind:
                        errors[kind] += 1
                        samples.setdefault(kind, detail)
        with lock:
            result.latencies.extend(latencies)
            result.errors.update(errors)
            for kind, detail in samples.items():
                result.samples.setdefault(kind, detail)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    now = time.perf_counter()
    window["start"] = now + warmup
    window["end"] = now + warmup + duration
    barrier.wait()
    time.sleep(max(0.0, window["start"] - time.perf_counter()))
    wall0, client0 = time.perf_counter(), time.process_time()
    server0 = process_cpu_seconds(server_pids)
    for thread in threads:
        thread.join(timeout=warmup + duration + timeout + 30)
    wall1, client1 = time.perf_counter(), time.process_time()
    server1 = process_cpu_seconds(server_pids)
    # Threads that stop early on max_requests shorten the window; those still in flight at the
    # deadline lengthen it by at most one request.
    result.elapsed = max(1e-9, wall1 - wall0)
    result.client_cpu = (client1 - client0) / result.elapsed
    result.server_cpu = (server1 - server0) / result.elapsed
    return result


# -- environment --------------------------------------------------------------------------


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def database_name(url: str) -> str:
    name = urlsplit(url).path.lstrip("/")
    if not name or "bench" not in name:
        raise SystemExit(f"refusing to drop {name!r}: the bench database name must contain 'bench'")
    return name


def maintenance_url(url: str) -> str:
    parts = urlsplit(url)
    scheme = "postgresql" if parts.scheme in {"postgres", "pgsql"} else parts.scheme
    return urlunsplit((scheme, parts.netloc, "/postgres", "", ""))


def drop_database(url: str) -> None:
    name = database_name(url)
    with psycopg.connect(maintenance_url(url), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@contextmanager
def fresh_database(url: str) -> Iterator[None]:
    drop_database(url)
    with psycopg.connect(maintenance_url(url), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database_name(url))))
    try:
        yield
    finally:
        drop_database(url)


def manage(env: dict[str, str], *args: str) -> str:
    completed = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"manage.py {args[0]} failed:\n{completed.stdout}{completed.stderr}")
    return completed.stdout


def create_api_key(env: dict[str, str]) -> str:
    code = (
        "from deck.services import organization_create, api_key_create; "
        "org = organization_create(name='Bench', slug='bench'); "
        "print('KEY', api_key_create(organization=org, name='bench').raw_key)"
    )
    for line in manage(env, "shell", "-c", code).splitlines():
        if line.startswith("KEY "):
            return line.split(" ", 1)[1].strip()
    raise RuntimeError("no API key printed")


@contextmanager
def gunicorn(
    env: dict[str, str], *, port: int, workers: int, threads: int, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as log_file:
        # A session of its own: the terminal's Ctrl-C reaches only this script, which then
        # stops the server in order.
        process = subprocess.Popen(
            [
                str(VENV_BIN / "gunicorn"),
                "deck.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(workers),
                "--threads",
                str(threads),
                "--log-level",
                "warning",
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
            stop_server(process)


def stop_server(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=15)
    # Whatever is left in the server's own process group (workers included) is killed.
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


def wait_ready(
    process: subprocess.Popen[bytes], base_url: str, api_key: str, log: Path, limit: float = 60
) -> None:
    deadline = time.monotonic() + limit
    headers = {"Authorization": f"Bearer {api_key}"}
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited ({process.returncode}):\n{log.read_text()}")
        try:
            response = httpx.get(f"{base_url}/v2/test", headers=headers, timeout=2)
        except httpx.HTTPError:
            time.sleep(0.2)
            continue
        if response.status_code == 200:
            return
        raise RuntimeError(f"/v2/test answered {response.status_code}: {response.text[:300]}")
    raise RuntimeError(f"gunicorn not ready after {limit:.0f} s:\n{log.read_text()}")


def create_fixtures(base_url: str, api_key: str) -> tuple[str, str]:
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=10) as client:
        agent = client.post("/v2/agents", json={"name": "Bench agent"})
        agent.raise_for_status()
        agent_id: str = agent.json()["id"]
        task = client.post(
            "/v2/tasks",
            json={
                "name": "Bench statement",
                "agent_id": agent_id,
                "prompt": PROMPT,
                "input_schema": INPUT_SCHEMA,
                "output_schema": OUTPUT_SCHEMA,
            },
        )
        task.raise_for_status()
        task_id: str = task.json()["id"]
        client.get(f"/v2/tasks/{task_id}").raise_for_status()
    return agent_id, task_id


# -- report -------------------------------------------------------------------------------


def print_table(results: list[Result]) -> None:
    headers = (
        "endpoint",
        "concurrency",
        "requests",
        "errors",
        "requests/s",
        "p50 ms",
        "p99 ms",
        "server CPU",
        "client CPU",
    )
    rows = [
        (
            r.endpoint,
            str(r.concurrency),
            str(r.requests),
            str(sum(r.errors.values())),
            f"{r.requests / r.elapsed:.1f}",
            f"{r.percentile_ms(0.50):.2f}",
            f"{r.percentile_ms(0.99):.2f}",
            f"{r.server_cpu:.2f}",
            f"{r.client_cpu:.2f}",
        )
        for r in results
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]

    def line(cells: tuple[str, ...]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))
        return "  ".join((first, *rest))

    print(line(headers))
    print("  ".join("-" * width for width in widths))
    for row in rows:
        print(line(row))
    print("(server / client CPU: cores used during the measured window; client = this process)")
    for r in results:
        for kind, count in r.errors.most_common():
            sample = r.samples.get(kind, "").replace("\n", " ")
            print(f"errors {r.endpoint} c={r.concurrency}: {kind} x{count}: {sample}")


# -- main ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured run")
    parser.add_argument(
        "--concurrency",
        default="1,8,32",
        type=lambda raw: [int(part) for part in raw.split(",") if part.strip()],
        help="comma-separated client thread counts",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DECK_BENCH_DATABASE_URL", DEFAULT_DATABASE_URL),
        help="database to (re)create and drop; its name must contain 'bench'",
    )
    parser.add_argument("--warmup", type=float, default=1.0, help="uncounted seconds per run")
    parser.add_argument("--max-requests", type=int, default=200_000, help="cap per run")
    parser.add_argument("--timeout", type=float, default=10.0, help="per-request timeout (s)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument(
        "--endpoints", default="get,post", help="comma-separated subset of get,post"
    )
    args = parser.parse_args(argv)
    if not args.concurrency or min(args.concurrency) < 1:
        parser.error("--concurrency needs positive integers")
    if args.duration <= 0 or args.warmup < 0:
        parser.error("--duration must be positive and --warmup not negative")
    args.endpoints = [part.strip() for part in args.endpoints.split(",") if part.strip()]
    if not set(args.endpoints) <= {"get", "post"}:
        parser.error("--endpoints takes get and/or post")
    database_name(args.database_url)
    return args


def on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    """Let SIGTERM unwind like Ctrl-C, so servers stop and the database is dropped."""
    raise KeyboardInterrupt


def deck_env(database_url: str, var_dir: Path, **extra: str) -> dict[str, str]:
    """The settings every bench gives Deck's processes: its own database and var directory,
    development mode without debug, quiet logs."""
    return {
        "DJANGO_SETTINGS_MODULE": "deck.settings",
        "DATABASE_URL": database_url,
        "DECK_VAR_DIR": str(var_dir),
        "DECK_ENVIRONMENT": "development",
        "DECK_DEBUG": "false",
        "DECK_LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, on_sigterm)
    var_dir = Path(tempfile.mkdtemp(prefix="deck-bench-"))
    env = {
        **os.environ,
        **deck_env(args.database_url, var_dir, DECK_RATE_LIMIT_REQUESTS=RATE_LIMIT),
    }
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = var_dir / "gunicorn.log"
    results: list[Result] = []
    try:
        with fresh_database(args.database_url):
            print(f"database {database_name(args.database_url)}, var dir {var_dir}", flush=True)
            manage(env, "migrate", "--noinput")
            api_key = create_api_key(env)
            with gunicorn(
                env, port=port, workers=args.workers, threads=args.threads, log=log
            ) as server:
                wait_ready(server, base_url, api_key, log)
                server_pids = process_tree(server.pid)
                agent_id, task_id = create_fixtures(base_url, api_key)
                print(
                    f"gunicorn on {base_url}: {args.workers} workers x {args.threads} threads, "
                    f"DEBUG off, PostgreSQL; {os.cpu_count()} CPU cores shared by server, "
                    f"database and this load generator; {args.duration:g} s per run after "
                    f"{args.warmup:g} s warm-up, at most {args.max_requests} requests; "
                    f"load average before: {load_average()}",
                    flush=True,
                )
                senders = {
                    "get": ("GET /v2/tasks/{id}", get_task(task_id)),
                    "post": ("POST /v2/tasks", None),
                }
                for key in args.endpoints:
                    label, send = senders[key]
                    for concurrency in args.concurrency:
                        run_send = send or post_task(agent_id, f"c{concurrency}")
                        print(f"running {label} c={concurrency} ...", file=sys.stderr, flush=True)
                        results.append(
                            run_load(
                                base_url=base_url,
                                api_key=api_key,
                                endpoint=label,
                                send=run_send,
                                concurrency=concurrency,
                                duration=args.duration,
                                warmup=args.warmup,
                                max_requests=args.max_requests,
                                timeout=args.timeout,
                                server_pids=server_pids,
                            )
                        )
                        if server.poll() is not None:
                            raise RuntimeError(f"gunicorn died:\n{log.read_text()}")
    except KeyboardInterrupt:
        print("interrupted; server stopped and database dropped", file=sys.stderr)
        if results:
            print_table(results)
        return 130
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)
    print()
    print_table(results)
    print(f"load average at the end: {load_average()} (other work on the machine skews results)")
    return 1 if any(r.errors for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
