"""Agent bench: what learning buys, and what a browser session costs.

Starts gunicorn on a free loopback port with a fresh SQLite database and var directory
(migrated, demo data from ``bootstrap_demo``), which also serves the sandbox portals. This
process then plays the worker: it creates runs of "Fetch my latest bill" on a sandbox utility
and executes them in process (``run_create`` + ``run_execute``, the browser pool of this
process), and prints:

- the median wall time of one run of the catalog's template (amount, due date, period,
  account, and the bill's PDF captured) (a) exploring (task in ``learning``: the heuristic planner),
  (b) replaying (task ``live``: the learned playbook, no exploring), and (c) a hand-written
  Playwright script of the same flow on the same Chromium (the floor), with the ratios;
- the memory of the Chromium processes (RSS and PSS summed over the browser's process tree)
  with 0, 1, 2 and 4 live, signed-in browser contexts.

    .venv/bin/python bench/agent.py --runs 5 --source brightwater
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# The sibling bench: this file runs as a script, so its directory is on sys.path.
from api import (
    deck_env,
    free_port,
    gunicorn,
    load_average,
    manage,
    on_sigterm,
    process_cpu_seconds,
)

ROOT = Path(__file__).resolve().parent.parent
TASK_NAME = "Fetch my latest bill"


def chromium_pids() -> list[int]:
    """This process's Chromium: every process below it whose command is Chromium."""
    children: dict[int, list[int]] = {}
    commands: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
        commands[int(entry.name)] = command
    found: list[int] = []
    stack = [os.getpid()]
    while stack:
        pid = stack.pop()
        for child in children.get(pid, []):
            stack.append(child)
            if "chrom" in commands.get(child, "").split(" ")[0].lower():
                found.append(child)
    return found


def memory_mb(pids: list[int]) -> tuple[float, float]:
    """Summed RSS and PSS (shared pages divided among the processes sharing them), in MB."""
    rss = pss = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:
            continue
    return rss / 1024, pss / 1024


def median_seconds(samples: list[float]) -> float:
    return statistics.median(samples) if samples else float("nan")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="measured runs per mode")
    parser.add_argument("--source", default="brightwater", help="sandbox portal slug")
    parser.add_argument(
        "--screenshots",
        action="store_true",
        help="take the per-step screenshots (off by default: they cost the same in all modes)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, on_sigterm)
    var_dir = Path(tempfile.mkdtemp(prefix="deck-bench-agent-"))
    database_url = f"sqlite:///{var_dir / 'deck.sqlite3'}"
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = deck_env(
        database_url,
        var_dir,
        DECK_AGENT_SCREENSHOTS="true" if args.screenshots else "false",
        DECK_RATE_LIMIT_REQUESTS="10000000",
    )
    full_env = {**os.environ, **env}
    manage(full_env, "migrate", "--noinput")
    manage(full_env, "bootstrap_demo")
    os.environ.update(env)
    # This process is the worker: Deck's packages from the project root.
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    with gunicorn(full_env, port=port, workers=2, threads=4, log=var_dir / "gunicorn.log"):
        _wait(base_url)
        print(
            f"gunicorn on {base_url} (SQLite {var_dir}); this process executes the runs; "
            f"{os.cpu_count()} CPU cores, load {load_average()}; "
            f"screenshots {'on' if args.screenshots else 'off'}",
            flush=True,
        )
        return _measure(args, base_url)


def _wait(base_url: str, limit: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/sandbox/", timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server did not answer")


def _fixtures(base_url: str, slug: str) -> dict[str, Any]:
    """The demo organization's source, credential and task for the sandbox utility."""
    from deck.models import Organization
    from tasks import services
    from tasks.sandbox.accounts import sandbox_primary_login
    from tasks.sandbox.catalog import catalog_template

    organization = Organization.objects.get(slug="demo")
    login = sandbox_primary_login(slug)
    source = services.source_create(
        organization=organization, name=f"Sandbox {slug}", url=f"{base_url}/sandbox/{slug}/"
    )
    credential = services.credential_create(
        organization=organization,
        source_id=source.id,
        auth_method="username_password",
        auth_credentials=login.auth_credentials(),
    )
    agent = services.agent_create(organization=organization, name="Bench agent")
    task = services.task_create(
        organization=organization,
        agent_id=agent.id,
        **catalog_template("fetch_latest_bill").task_fields(),
    )
    return {
        "organization": organization,
        "task": task,
        "credential": credential,
        "login": login,
        "url": source.url,
    }


def _run_once(fixtures: dict[str, Any], status: str) -> dict[str, Any]:
    """One run of the task in ``status`` (kept there), executed in this process."""
    from tasks.execution import run_execute
    from tasks.models import RunStep, Task, TaskRun
    from tasks.runs import run_create

    task = fixtures["task"]
    Task.objects.filter(pk=task.pk).update(status=status, stage_successes=0)
    run = run_create(
        organization=fixtures["organization"],
        task_id=task.id,
        input={},
        credential_id=fixtures["credential"].id,
    )
    run_execute(run.id)
    run = TaskRun.objects.get(pk=run.pk)
    _end_session(run.session_id)
    if run.status != "completed":
        raise RuntimeError(f"run {run.id} {run.status}: {run.errors}")
    modes = set(RunStep.objects.filter(run=run).values_list("detail__mode", flat=True))
    expected = {"learning": {"explore"}, "live": {"replay"}}[status]
    if modes != expected:
        raise RuntimeError(f"run {run.id} in {status} went {sorted(modes)}")
    output: dict[str, Any] = run.output or {}
    return output


def _end_session(session_id: str | None) -> None:
    """Each measured run starts in a new browser context, like a run on a new session: the
    one just used is closed (a worker's pool does it once the session ends)."""
    from tasks.agent.browser import browser_pool

    if session_id:
        browser_pool().forget(session_id)


def _sign_in(page: Any, fixtures: dict[str, Any]) -> None:
    """The hand-written flow up to the home page: what a person would script for one site."""
    import pyotp

    login = fixtures["login"]
    page.goto(fixtures["url"])
    page.fill("#email", login.username)
    page.fill("#password", login.password)
    page.click("#login-form button")
    page.fill("#code", pyotp.TOTP(login.totp_secret).now())
    page.click("form button:has-text('Verify')")
    page.wait_for_url("**/sandbox/*/")


def _script_once(fixtures: dict[str, Any]) -> dict[str, Any]:
    """The floor: the same flow as a fixed Playwright script on the pool's Chromium, in a
    context of its own as a run without a session gets."""
    from tasks.agent.browser import browser_pool

    pool = browser_pool()

    def flow() -> dict[str, Any]:
        browser = pool._ensure_browser()
        context = browser.new_context()
        try:
            page = context.new_page()
            _sign_in(page, fixtures)
            page.click("text=View latest bill")
            read = {
                label: page.locator(f"dt:text-is('{label}') + dd").inner_text()
                for label in ("Account number", "Billing period", "Amount due", "Due date")
            }
            # The bill's PDF, fetched with the page's cookies, as the agent captures it.
            href = page.locator("a[href$='.pdf']").first.get_attribute("href")
            pdf = context.request.get(page.url.split("/sandbox/")[0] + str(href)).body()
            return {**read, "pdf_bytes": len(pdf)}
        finally:
            context.close()

    return pool.call(flow)


def _contexts_memory(
    fixtures: dict[str, Any], counts: list[int]
) -> list[tuple[int, list[int], tuple[float, float]]]:
    """Chromium's memory with n live browser contexts, each signed in on the home page."""
    from tasks.agent.browser import browser_pool

    pool = browser_pool()
    contexts: list[Any] = []
    rows = []

    def grower(n: int) -> Callable[[], None]:
        def grow() -> None:
            browser = pool._ensure_browser()
            while len(contexts) < n:
                context = browser.new_context()
                _sign_in(context.new_page(), fixtures)
                contexts.append(context)

        return grow

    try:
        for count in counts:
            pool.call(grower(count))
            time.sleep(1.0)  # let the renderers settle after loading
            pids = chromium_pids()
            rows.append((count, pids, memory_mb(pids)))
    finally:
        pool.call(lambda: [context.close() for context in contexts])
    return rows


def _measure(args: argparse.Namespace, base_url: str) -> int:
    fixtures = _fixtures(base_url, args.source)
    runs = max(1, args.runs)

    def cpu() -> float:
        """CPU seconds of this process (the agent) and of its Chromium processes so far."""
        own = resource.getrusage(resource.RUSAGE_SELF)
        return own.ru_utime + own.ru_stime + process_cpu_seconds(chromium_pids())

    def timed(label: str, once: Callable[[], dict[str, Any]]) -> tuple[float, float]:
        samples, cpus = [], []
        first = once()  # warm-up (Chromium started, the playbook learned), and the output
        for _ in range(runs):
            started, used = time.perf_counter(), cpu()
            once()
            samples.append(time.perf_counter() - started)
            cpus.append(cpu() - used)
        print(
            f"  {label:<24}" + " ".join(f"{s:.2f}" for s in samples) + f" s   output {first}",
            flush=True,
        )
        return median_seconds(samples), median_seconds(cpus)

    print(f"{TASK_NAME!r} on sandbox {args.source}: {runs} timed runs per mode after a warm-up")
    explore = timed("explore (learning)", lambda: _run_once(fixtures, "learning"))
    replay = timed("replay (live)", lambda: _run_once(fixtures, "live"))
    floor = timed("hand-written Playwright", lambda: _script_once(fixtures))
    rows = [
        ("explore (learning)", *explore),
        ("replay (live)", *replay),
        ("hand-written script", *floor),
    ]
    print(f"\n{'mode':<22}{'median s':>10}{'x script':>10}{'CPU s':>8}{'x script':>10}")
    for name, wall, used in rows:
        print(
            f"{name:<22}{wall:>10.2f}{wall / floor[0]:>10.2f}{used:>8.2f}{used / floor[1]:>10.2f}"
        )
    print(
        f"explore / replay: {explore[0] / replay[0]:.2f}x wall, {explore[1] / replay[1]:.2f}x CPU"
    )
    print("(CPU: this process, which runs the agent, plus its Chromium processes; the server's")
    print(" is not counted. On a loaded machine the wall times carry the load.)")

    print("\nChromium memory with live, signed-in contexts (this process's browser tree)")
    print(f"{'contexts':>8}{'processes':>11}{'RSS MB':>10}{'PSS MB':>10}{'PSS +MB/ctx':>13}")
    baseline = None
    for count, pids, (rss, pss) in _contexts_memory(fixtures, [0, 1, 2, 4]):
        baseline = pss if baseline is None else baseline
        per = (pss - baseline) / count if count else 0.0
        print(f"{count:>8}{len(pids):>11}{rss:>10.0f}{pss:>10.0f}{per:>13.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
