"""Fan-out bench: one run over 10,000 entities, created and drained by real Celery workers.

Sets up a throwaway database (SQLite in a temporary var directory with the filesystem broker,
or a fresh PostgreSQL database with Redis), migrates, starts gunicorn for the sandbox portals
and, in this process, creates an organization, two credentials on the Harbor sandbox portal
and ``--entities`` account entities split between them (bulk, as a large discovery would).
Then, for each worker count (``--workers 1,2``):

(a) creation: one fan-out run per credential through ``run_create(entity_filter=…)`` (the
    service behind ``POST /v2/tasks/{id}/run``), timed, with its SQL statements counted and
    the Python heap's peak (tracemalloc) during creation;
(b) drain: that many ``celery worker -Q runs,default -c 1`` processes run the children to the
    end; drain time is the span between the first child's ``started_at`` and the last one's
    ``finished_at`` (database timestamps), and the peak resident memory (VmHWM) of every
    worker process is read from /proc before it stops;
(c) once at the end, a sample of children executed in this process under
    ``CaptureQueriesContext``: the SQL statements per child run (claim, agent steps, finish,
    slot release, and the parent's aggregation for the last one).

The agent is ``bench.fanout.SandboxAccountPlanner``: real but cheap work per entity, not a
browser. It signs in to the Harbor sandbox portal over HTTP once per worker process and
credential (the cookie kept, as a session would), then fetches the member profile page for
each entity and returns the tier it reads there.

    .venv/bin/python bench/fanout.py                         # SQLite + filesystem broker
    .venv/bin/python bench/fanout.py \\
        --database-url postgres://postgres@127.0.0.1:5432/deck_bench_fanout \\
        --broker-url redis://127.0.0.1:6379/3
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from contextlib import ExitStack, nullcontext, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

import httpx

if TYPE_CHECKING:
    from tasks.agent.runtime import RunContext

ROOT = Path(__file__).resolve().parent.parent
PLANNER = "bench.fanout.SandboxAccountPlanner"
PORTAL_PATH = "/sandbox/harbor/signin/"
LOGINS = (
    ("ellen.park@example.org", "Harbor-Ellen-2026!"),
    ("tomas.reyes@example.org", "Harbor-Tomas-2026!"),
)
TIER = re.compile(r"<dt>Tier</dt>\s*<dd>([^<]+)</dd>")
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class SandboxAccountPlanner:
    """Per entity: the Harbor member profile page over HTTP, signed in once per worker
    process and credential; returns the entity's id and the tier the page shows."""

    clients: dict[str, httpx.Client] = {}

    def _client(self, context: RunContext) -> httpx.Client:
        client = self.clients.get(str(context.credential_id))
        if client is not None:
            return client
        client = httpx.Client(timeout=10, follow_redirects=True)
        page = client.get(context.source_url)
        token = CSRF.search(page.text)
        response = client.post(
            context.source_url,
            data={
                "member": context.credential_secret("username") or "",
                "password": context.credential_secret("password") or "",
                "csrfmiddlewaretoken": token.group(1) if token else "",
            },
            headers={"Referer": context.source_url},
        )
        if response.status_code != 200 or "signin" in str(response.url):
            from tasks.agent.runtime import AgentFailure

            raise AgentFailure("The portal refused the login.", type="source", code="auth_invalid")
        self.clients[str(context.credential_id)] = client
        return client

    def run(self, context: RunContext) -> dict[str, Any]:
        client = self._client(context)
        page = client.get(urljoin(context.source_url, "../profile/"))
        tier = TIER.search(page.text)
        context.step("read_page", {"url": str(page.url), "status": page.status_code})
        if tier is None:
            from tasks.agent.runtime import AgentFailure

            raise AgentFailure("The profile page showed no tier.", code="page_unexpected")
        entity = context.entities[0] if context.entities else {}
        return {"entity": entity.get("external_id"), "tier": tier.group(1).strip()}


# -- setup ----------------------------------------------------------------------------------


def django_setup(env: dict[str, str], *, sqlite: bool) -> None:
    os.environ.update(env)
    if sqlite:
        os.environ.pop("DATABASE_URL", None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def create_world(*, base_url: str, entities: int) -> tuple[str, str, list[str]]:
    """Organization, agent, source, the two credentials and their entities (in bulk)."""
    from django.utils import timezone

    from deck.services import organization_create
    from tasks import services
    from tasks.models import Entity

    organization = organization_create(name="Fan-out bench", slug="fanout-bench")
    agent = services.agent_create(organization=organization, name="Sandbox reader")
    source = services.source_create(
        organization=organization, name="Harbor Hotels", url=base_url + PORTAL_PATH
    )
    task = services.task_create(
        organization=organization,
        agent_id=agent.id,
        name="Member tier per account",
        prompt="Open the member profile and report the tier.",
        input_schema={"type": "object", "properties": {}},
        output_schema={
            "type": "object",
            "properties": {"entity": {"type": "string"}, "tier": {"type": "string"}},
            "required": ["tier"],
        },
    )
    credentials = [
        services.credential_create(
            organization=organization,
            source_id=source.id,
            auth_method="username_password",
            auth_credentials={"username": username, "password": password},
        )
        for username, password in LOGINS
    ]
    now = timezone.now()
    per_credential = entities // len(credentials)
    for index, credential in enumerate(credentials):
        Entity.objects.bulk_create(
            (
                Entity(
                    organization=organization,
                    credential=credential,
                    source=source,
                    type="account",
                    external_id=f"ACC-{index}-{n:06d}",
                    name=f"Account {n}",
                    attributes={"region": "north" if n % 2 else "south"},
                    first_seen_at=now,
                    last_seen_at=now,
                )
                for n in range(per_credential)
            ),
            batch_size=1000,
        )
    return str(organization.id), task.id, [credential.id for credential in credentials]


def worker_memory_kib(root: int) -> list[int]:
    """VmHWM (peak resident set) of the worker's main process and its pool children."""
    from api import process_tree

    peaks = []
    for pid in process_tree(root):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        match = re.search(r"VmHWM:\s+(\d+) kB", status)
        if match:
            peaks.append(int(match.group(1)))
    return peaks


# -- phases ---------------------------------------------------------------------------------


def create_fanouts(organization_id: str, task_id: str, credential_ids: list[str]) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from deck.models import Organization
    from tasks.runs import run_create

    organization = Organization.objects.get(pk=organization_id)
    tracemalloc.start()
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        parents = [
            run_create(
                organization=organization,
                task_id=task_id,
                input={},
                credential_id=credential_id,
                entity_filter={"type": "account"},
            ).id
            for credential_id in credential_ids
        ]
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"parents": parents, "seconds": seconds, "queries": len(queries), "heap_peak": peak}


def drain(parents: list[str], *, limit: float) -> dict[str, Any]:
    from django.db.models import Max, Min

    from tasks.models import TaskRun

    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if not TaskRun.objects.filter(pk__in=parents).exclude(status__in=TaskRun.TERMINAL).exists():
            break
        time.sleep(1)
    from tasks.errors import StateConflict
    from tasks.runs import run_cancel

    timed_out = TaskRun.objects.filter(pk__in=parents).exclude(status__in=TaskRun.TERMINAL)
    for parent in timed_out.select_related("organization"):
        # Out of time: what is left is canceled so that the next phase starts clean.
        with suppress(StateConflict):
            run_cancel(organization=parent.organization, run_id=parent.id)
    children = TaskRun.objects.filter(parent_id__in=parents, finished_at__isnull=False).exclude(
        status="canceled"
    )
    span = children.aggregate(first=Min("started_at"), last=Max("finished_at"))
    statuses = Counter(
        TaskRun.objects.filter(parent_id__in=parents).values_list("status", flat=True)
    )
    seconds = (
        (span["last"] - span["first"]).total_seconds() if span["first"] and span["last"] else 0.0
    )
    parent_statuses = list(TaskRun.objects.filter(pk__in=parents).values_list("status", flat=True))
    return {"seconds": seconds, "statuses": statuses, "parents": parent_statuses}


def sample_queries(
    organization_id: str, task_id: str, credential_id: str, runs: int
) -> dict[str, Any]:
    """A small fan-out executed in this process: statements per child run."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from deck.models import Organization
    from tasks.execution import run_execute
    from tasks.models import Entity, TaskRun
    from tasks.runs import run_create

    organization = Organization.objects.get(pk=organization_id)
    ids = list(
        Entity.objects.filter(credential_id=credential_id)
        .order_by("pk")
        .values_list("id", flat=True)[:runs]
    )
    parent = run_create(
        organization=organization,
        task_id=task_id,
        input={},
        credential_id=credential_id,
        entity_ids=ids,
    )
    counts: list[int] = []
    outcomes: Counter[str] = Counter()
    for _ in range(runs):
        child = TaskRun.objects.filter(parent=parent, held=False, status="queued").first()
        if child is None:
            break
        with CaptureQueriesContext(connection) as queries:
            outcomes[run_execute(child.id)] += 1
        counts.append(len(queries))
    parent.refresh_from_db()
    return {"counts": counts, "outcomes": outcomes, "parent": parent.status}


# -- main -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--workers", default="1,2", help="worker process counts to measure")
    parser.add_argument(
        "--database-url",
        default="",
        help="PostgreSQL URL (name must contain 'bench'); SQLite if empty",
    )
    parser.add_argument(
        "--broker-url", default="", help="Redis URL; the filesystem broker if empty"
    )
    parser.add_argument("--per-source", type=int, default=8)
    parser.add_argument("--sample", type=int, default=50)
    parser.add_argument("--limit", type=float, default=3600, help="seconds allowed per drain")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(ROOT / "bench"))
    from api import (
        database_name,
        deck_env,
        free_port,
        fresh_database,
        gunicorn,
        load_average,
        manage,
        on_sigterm,
        wait_ready,
    )
    from dispatch import celery_worker, stop_group

    signal.signal(signal.SIGTERM, on_sigterm)
    var_dir = Path(tempfile.mkdtemp(prefix="deck-bench-fanout-"))
    database_url = args.database_url or f"sqlite:///{var_dir / 'deck.sqlite3'}"
    extra = {
        "DECK_AGENT_PLANNER": PLANNER,
        "DECK_FANOUT_MAX_PER_CREDENTIAL": "1",
        "DECK_FANOUT_MAX_PER_SOURCE": str(args.per_source),
        "DECK_SESSION_LIMIT": "1000",
        "DECK_RATE_LIMIT_REQUESTS": "10000000",
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(ROOT), str(ROOT / "bench"), os.environ.get("PYTHONPATH")])
        ),
    }
    if args.broker_url:
        extra["CELERY_BROKER_URL"] = args.broker_url
    env = {**os.environ, **deck_env(database_url, var_dir, **extra)}
    if not args.database_url:
        env.pop("DATABASE_URL")  # the embedded default: SQLite (WAL) under DECK_VAR_DIR
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    results: list[dict[str, Any]] = []
    sample: dict[str, Any] = {}
    backend = "PostgreSQL" if args.database_url else "SQLite (WAL)"
    broker = "Redis" if args.broker_url else "filesystem"
    try:
        with ExitStack() as stack:
            stack.enter_context(
                fresh_database(args.database_url) if args.database_url else nullcontext()
            )
            if args.broker_url:
                import redis

                redis.Redis.from_url(args.broker_url).flushdb()
            print(f"{backend} + {broker} broker, var dir {var_dir}", flush=True)
            if args.database_url:
                print(f"database {database_name(args.database_url)}", flush=True)
            manage(env, "migrate", "--noinput")
            server = stack.enter_context(
                gunicorn(env, port=port, workers=1, threads=4, log=var_dir / "gunicorn.log")
            )
            django_setup(env, sqlite=not args.database_url)
            from deck.models import Organization
            from deck.services import api_key_create

            started = time.perf_counter()
            organization_id, task_id, credential_ids = create_world(
                base_url=base_url, entities=args.entities
            )
            print(
                f"{args.entities} entities recorded in {time.perf_counter() - started:.1f} s",
                flush=True,
            )
            key = api_key_create(
                organization=Organization.objects.get(pk=organization_id), name="bench"
            )
            wait_ready(server, base_url, key.raw_key, var_dir / "gunicorn.log")
            for workers in [int(n) for n in args.workers.split(",")]:
                created = create_fanouts(organization_id, task_id, credential_ids)
                print(
                    f"[{workers} worker(s)] created {len(created['parents'])} parents over "
                    f"{args.entities} entities in {created['seconds']:.1f} s",
                    flush=True,
                )
                with ExitStack() as pool:
                    processes = [
                        pool.enter_context(
                            celery_worker(
                                env,
                                name=f"bench-fanout-{n}-{os.getpid()}@{socket.gethostname()}",
                                concurrency=1,
                                log=var_dir / f"worker-{workers}-{n}.log",
                            )
                        )
                        for n in range(workers)
                    ]
                    drained = drain(created["parents"], limit=args.limit)
                    memory = [worker_memory_kib(process.pid) for process in processes]
                    for process in processes:
                        stop_group(process, grace=20)
                results.append(
                    {"workers": workers, "created": created, "drained": drained, "memory": memory}
                )
                print(f"[{workers} worker(s)] drained: {drained}", flush=True)
            sample = sample_queries(organization_id, task_id, credential_ids[0], args.sample)
    except KeyboardInterrupt:
        print("interrupted; cleaned up", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)
    print()
    print(
        f"{backend} + {broker} broker; {args.entities} entities over {len(LOGINS)} credentials; "
        f"DECK_FANOUT_MAX_PER_CREDENTIAL=1, DECK_FANOUT_MAX_PER_SOURCE={args.per_source}"
    )
    headers = (
        "workers",
        "create s",
        "children/s created",
        "SQL per child (create)",
        "heap peak (create)",
        "drain s",
        "runs/s",
        "statuses",
        "worker peak RSS MiB",
    )
    print("| " + " | ".join(headers) + " |")
    print("|" + " --- |" * len(headers))
    for result in results:
        created, drained = result["created"], result["drained"]
        count = drained["statuses"]["completed"] + drained["statuses"]["failed"]
        rss = ", ".join(f"{max(peaks) / 1024:.0f}" for peaks in result["memory"] if peaks)
        rate = count / drained["seconds"] if drained["seconds"] else 0.0
        cells = (
            str(result["workers"]),
            f"{created['seconds']:.1f}",
            f"{args.entities / created['seconds']:.0f}",
            f"{created['queries'] / args.entities:.2f}",
            f"{created['heap_peak'] / 2**20:.1f} MiB",
            f"{drained['seconds']:.1f}",
            f"{rate:.1f}",
            str(dict(drained["statuses"])),
            rss,
        )
        print("| " + " | ".join(cells) + " |")
    if sample.get("counts"):
        counts = sorted(sample["counts"])
        print(
            f"SQL statements per child run, in process ({len(counts)} children): "
            f"median {counts[len(counts) // 2]}, min {counts[0]}, max {counts[-1]} "
            f"(the max includes the parent's aggregation); outcomes {dict(sample['outcomes'])}, "
            f"parent {sample['parent']}"
        )
    print(f"load average at the end: {load_average()} (other work on the machine skews results)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
