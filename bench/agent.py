"""Agent bench: what learning buys, and what a browser session costs.

Starts gunicorn on a free loopback port with a fresh SQLite database and var directory
(migrated, demo data from ``bootstrap_demo``), which also serves the sandbox portals. This
process then plays the worker: it creates runs of "Fetch my latest bill" on a sandbox utility
and executes them in process (``run_create`` + ``run_execute``, the browser pool of this
process), and prints:

- the median wall time of one run (a) exploring (task in ``learning``: the heuristic planner),
  (b) replaying (task ``live``: the learned playbook, no exploring), and (c) a hand-written
  Playwright script of the same flow on the same Chromium (the floor), with the ratios;
- the memory of the Chromium processes (RSS and PSS summed over the browser's process tree)
  with 0, 1, 2 and 4 live, signed-in browser contexts.

    .venv/bin/python bench/agent.py --runs 5 --source brightwater
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.api import (  # noqa: E402 (the project root first)
    deck_env,
    free_port,
    gunicorn,
    manage,
    on_sigterm,
)

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
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    import django

    django.setup()
    with gunicorn(full_env, port=port, workers=2, threads=4, log=var_dir / "gunicorn.log"):
        _wait(base_url)
        print(
            f"gunicorn on {base_url} (SQLite {var_dir}); this process executes the runs; "
            f"{os.cpu_count()} CPU cores; screenshots {'on' if args.screenshots else 'off'}",
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


def _measure(args: argparse.Namespace, base_url: str) -> int:
    from bench import agent_flows

    fixtures = agent_flows.fixtures(base_url=base_url, slug=args.source)
    runs = max(1, args.runs)

    def timed(label: str, once: Callable[[], Any]) -> list[float]:
        samples = []
        once()  # warm-up: Chromium started, caches warm, pages compiled
        for _ in range(runs):
            started = time.perf_counter()
            once()
            samples.append(time.perf_counter() - started)
        print(f"  {label}: " + ", ".join(f"{s:.2f}" for s in samples) + " s", flush=True)
        return samples

    print(f"{TASK_NAME!r} on sandbox {args.source}, {runs} runs per mode after one warm-up")
    explore = timed("explore (learning)", lambda: agent_flows.run_once(fixtures, "learning"))
    replay = timed("replay (live)", lambda: agent_flows.run_once(fixtures, "live"))
    floor = timed("hand-written Playwright", lambda: agent_flows.script_once(fixtures))
    rows = [
        ("explore (learning)", median_seconds(explore)),
        ("replay (live)", median_seconds(replay)),
        ("hand-written script", median_seconds(floor)),
    ]
    base = rows[2][1]
    print(f"\n{'mode':<22}{'median s':>10}{'x script':>10}")
    for name, value in rows:
        print(f"{name:<22}{value:>10.2f}{value / base:>10.1f}")
    print(f"explore / replay: {rows[0][1] / rows[1][1]:.1f}x")

    print("\nChromium memory with live, signed-in contexts (this process's browser tree)")
    print(f"{'contexts':>8}{'processes':>11}{'RSS MB':>10}{'PSS MB':>10}{'PSS +/ctx':>11}")
    baseline_pss = None
    for count, pids in agent_flows.contexts_memory(fixtures, [0, 1, 2, 4], chromium_pids):
        rss, pss = memory_mb(pids)
        if baseline_pss is None:
            baseline_pss = pss
        per = (pss - baseline_pss) / count if count else 0.0
        print(f"{count:>8}{len(pids):>11}{rss:>10.0f}{pss:>10.0f}{per:>11.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
