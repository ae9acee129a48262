"""Events bench: webhook deliveries per second to a loopback receiver, and the time to drain
a backlog of 10,000 events.

Creates a throwaway PostgreSQL database and var directory, migrates, creates an organization
with one webhook destination (``events: ["*"]``) pointing at an HTTP receiver in its own
process on 127.0.0.1 (keep-alive, answers 200), and bulk-inserts the backlog: events shaped
like ``task_run.completed`` payloads, not yet fanned out. Then, each measured in fresh forked
processes that run exactly the code the beat job runs:

(a) fan-out alone (``events_fan_out`` until nothing is left: events → delivery rows), then
    sending alone (``deliveries_send_due`` until nothing is due): the rate of each stage;
(b) for each ``--processes`` value, the whole backlog reset and drained by that many
    processes running ``events_pump`` at once (as that many workers would): drain time and
    deliveries per second, end to end.

Every run checks that the receiver got each event exactly once and that a received request
verifies with the destination's secret (``standardwebhooks``). The database and the var
directory are always removed, Ctrl-C included.

    .venv/bin/python bench/events.py --events 10000 --processes 1,2
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

# The sibling bench: this file runs as a script, so its directory is on sys.path.
from api import (
    CLOCK_TICKS,
    database_name,
    deck_env,
    fresh_database,
    load_average,
    manage,
    on_sigterm,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/deck_bench_events"
FORK = multiprocessing.get_context("fork")


# -- the receiver -------------------------------------------------------------------------


def serve(port: int, received: Synchronized[int], sample: Any, ready: Any) -> None:
    """A keep-alive HTTP/1.1 receiver counting requests; keeps the first one for checking."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the parent's handler is for the parent

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle on, the second waits for the
        # client's delayed ACK (40 ms) and the bench would measure that instead.
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with received.get_lock():
                received.value += 1
                first = received.value == 1
            if first:
                sample.put({"headers": dict(self.headers.items()), "body": body.decode()})
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    ready.set()
    server.serve_forever()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


# -- Django, in this process and in the forked senders ------------------------------------


def setup_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def payload(n: int) -> dict[str, Any]:
    """About the size of a real task_run.completed event."""
    return {
        "id": f"trun_bench{n:020d}",
        "object": "task_run",
        "status": "completed",
        "result": "success",
        "task_id": "task_benchTask000000000000",
        "agent_id": "agt_benchAgent00000000000",
        "credential_id": "cred_benchCred0000000000",
        "source_id": "src_benchSource000000000",
        "session_id": "sess_benchSession0000000",
        "workflow_id": None,
        "runtime_ms": 41_250 + n % 1000,
        "tokenized": ["account_number"],
        "output": {
            "balance": 1234.56,
            "currency": "EUR",
            "transactions": [
                {"date": "2026-11-01", "description": "Electricity, October", "amount": -82.4},
                {"date": "2026-11-03", "description": "Payment, thank you", "amount": 82.4},
            ],
        },
        "errors": [],
        "interaction": None,
        "storage": [],
        "canceled_at": None,
        "created_at": "2026-11-23T12:00:00.000Z",
        "updated_at": "2026-11-23T12:00:41.250Z",
    }


def create_backlog(*, events: int, receiver_url: str) -> tuple[str, str]:
    from deck.events.models import Event
    from deck.events.services import event_destination_create
    from deck.services import organization_create

    organization = organization_create(name="Bench", slug="bench")
    destination, secret = event_destination_create(
        organization=organization, type="webhook", events=["*"], url=receiver_url
    )
    assert secret is not None
    Event.objects.bulk_create(
        (
            Event(organization=organization, type="task_run.completed", data=payload(n))
            for n in range(events)
        ),
        batch_size=1000,
    )
    return destination.id, secret


def reset_backlog() -> None:
    from django.db import connections

    from deck.events.models import Event, EventDelivery

    EventDelivery.objects.all().delete()
    Event.objects.update(fanned_out_at=None)
    connections.close_all()  # never hand an open connection to a forked child


def outstanding() -> bool:
    from deck.events.models import Event, EventDelivery

    return (
        Event.objects.filter(fanned_out_at__isnull=True).exists()
        or EventDelivery.objects.exclude(status="succeeded").exists()
    )


def child(stage: str, results: Any) -> None:
    """One sender process: a forked copy of this one, with its own database connection and
    its own HTTP connection pool (the parent never sent anything)."""
    from django.db import connections

    from deck.events.delivery import deliveries_send_due, events_pump
    from deck.events.services import events_fan_out

    connections.close_all()
    started = time.perf_counter()
    if stage == "fan_out":
        while events_fan_out():
            pass
    elif stage == "send":
        while deliveries_send_due():
            pass
    else:
        # Like several beat ticks landing on several workers: pump until the backlog is
        # gone, whoever else is pumping too.
        while outstanding():
            events_pump(budget_seconds=30)
            time.sleep(0.01)
    results.put((stage, time.perf_counter() - started, time.process_time()))
    connections.close_all()


@dataclass
class Run:
    label: str
    processes: int
    events: int
    seconds: float = math.nan
    received: int = 0
    sender_cpu: float = 0.0  # cores, all sender processes together
    receiver_cpu: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)


def run_stage(
    stage: str, *, processes: int, events: int, received: Synchronized[int], receiver_pid: int
) -> Run:
    before = received.value
    results = FORK.Queue()
    receiver_cpu = cpu_seconds(receiver_pid)
    started = time.perf_counter()
    workers = [FORK.Process(target=child, args=(stage, results)) for _ in range(processes)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
        if worker.exitcode != 0:
            raise RuntimeError(f"a {stage} process exited with {worker.exitcode}")
    seconds = time.perf_counter() - started
    outputs = [results.get(timeout=5) for _ in workers]
    run = Run(label=stage, processes=processes, events=events, seconds=seconds)
    run.received = received.value - before
    run.sender_cpu = sum(cpu for _, _, cpu in outputs) / seconds
    run.receiver_cpu = (cpu_seconds(receiver_pid) - receiver_cpu) / seconds
    if stage != "fan_out":
        run.latency_ms = attempt_latency()
    return run


def attempt_latency() -> dict[str, float]:
    from deck.events.models import EventDelivery

    values = sorted(
        latency
        for latency in EventDelivery.objects.filter(status="succeeded").values_list(
            "response_latency_ms", flat=True
        )
        if latency is not None
    )
    if not values:
        return {}
    return {
        "p50": float(values[len(values) // 2]),
        "p99": float(values[min(len(values) - 1, math.ceil(len(values) * 0.99) - 1)]),
    }


def check_sample(sample: Any, secret: str) -> str:
    from standardwebhooks.webhooks import Webhook

    request = sample.get(timeout=5)
    event = Webhook(secret).verify(request["body"], request["headers"])
    return f"first request verified with the destination's secret ({event['id']})"


# -- report -------------------------------------------------------------------------------


def print_table(runs: list[Run]) -> None:
    headers = (
        "stage",
        "processes",
        "events",
        "seconds",
        "per second",
        "received",
        "attempt p50 ms",
        "attempt p99 ms",
        "sender CPU",
        "receiver CPU",
    )
    rows = [
        (
            run.label,
            str(run.processes),
            str(run.events),
            f"{run.seconds:.2f}",
            f"{run.events / run.seconds:.0f}",
            str(run.received),
            f"{run.latency_ms.get('p50', math.nan):.0f}",
            f"{run.latency_ms.get('p99', math.nan):.0f}",
            f"{run.sender_cpu:.2f}",
            f"{run.receiver_cpu:.2f}",
        )
        for run in runs
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    print(
        "  ".join(
            h.rjust(w) if i else h.ljust(w)
            for i, (h, w) in enumerate(zip(headers, widths, strict=True))
        )
    )
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(
            "  ".join(
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )


# -- main ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=10_000, help="backlog size")
    parser.add_argument(
        "--processes",
        default="1,2",
        type=lambda raw: [int(part) for part in raw.split(",") if part.strip()],
        help="comma-separated sender process counts for the drain runs",
    )
    parser.add_argument("--batch", type=int, default=64, help="DECK_EVENT_DELIVERY_BATCH")
    parser.add_argument(
        "--concurrency", type=int, default=16, help="DECK_EVENT_DELIVERY_CONCURRENCY"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DECK_BENCH_DATABASE_URL", DEFAULT_DATABASE_URL),
        help="database to (re)create and drop; its name must contain 'bench'",
    )
    args = parser.parse_args(argv)
    if args.events < 1 or not args.processes or min(args.processes) < 1:
        parser.error("--events and --processes need positive integers")
    database_name(args.database_url)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, on_sigterm)
    var_dir = Path(tempfile.mkdtemp(prefix="deck-bench-events-"))
    env = deck_env(
        args.database_url,
        var_dir,
        DECK_DESTINATIONS_ALLOW_PRIVATE="true",
        DECK_EVENT_DELIVERY_BATCH=str(args.batch),
        DECK_EVENT_DELIVERY_CONCURRENCY=str(args.concurrency),
    )
    received: Synchronized[int] = FORK.Value("q", 0)
    sample = FORK.Queue()
    ready = FORK.Event()
    port = free_port()
    receiver = FORK.Process(target=serve, args=(port, received, sample, ready), daemon=True)
    runs: list[Run] = []
    try:
        with fresh_database(args.database_url):
            manage({**os.environ, **env}, "migrate", "--noinput")
            receiver.start()
            if not ready.wait(10):
                raise RuntimeError("the receiver did not start")
            assert receiver.pid is not None
            setup_django(env)
            destination_id, secret = create_backlog(
                events=args.events, receiver_url=f"http://127.0.0.1:{port}/hooks"
            )
            print(
                f"database {database_name(args.database_url)}; {args.events} events for one "
                f"webhook destination ({destination_id}) at http://127.0.0.1:{port}; batch "
                f"{args.batch}, {args.concurrency} sends at once per process; "
                f"{os.cpu_count()} CPU cores shared by senders, receiver and PostgreSQL; "
                f"load average before: {load_average()}",
                flush=True,
            )
            reset_backlog()
            for stage in ("fan_out", "send"):
                print(f"running {stage} ...", file=sys.stderr, flush=True)
                runs.append(
                    run_stage(
                        stage,
                        processes=1,
                        events=args.events,
                        received=received,
                        receiver_pid=receiver.pid,
                    )
                )
            verified = check_sample(sample, secret)
            for processes in args.processes:
                reset_backlog()
                print(f"running drain with {processes} processes ...", file=sys.stderr, flush=True)
                run = run_stage(
                    "drain (fan-out + send)",
                    processes=processes,
                    events=args.events,
                    received=received,
                    receiver_pid=receiver.pid,
                )
                runs.append(run)
            from django.db import connections

            connections.close_all()
    except KeyboardInterrupt:
        print("interrupted; database dropped", file=sys.stderr)
        return 130
    finally:
        if receiver.is_alive():
            receiver.terminate()
            receiver.join(5)
        shutil.rmtree(var_dir, ignore_errors=True)
    print()
    print_table(runs)
    print(verified)
    duplicates = [run for run in runs if run.label != "fan_out" and run.received != run.events]
    for run in duplicates:
        print(f"{run.label}: the receiver got {run.received} requests for {run.events} events")
    print(f"load average at the end: {load_average()} (other work on the machine skews results)")
    return 1 if duplicates else 0


if __name__ == "__main__":
    sys.exit(main())
