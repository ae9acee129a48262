"""LLM planner bench: what Deck itself costs per model turn, and how big each request is.

The model is the scripted OpenAI-compatible server of the tests (``tests/agent/llm_server.py``)
on loopback, answering at once (or after ``--model-latency``) with the tool calls a model would
make on the Cascade Power & Gas sandbox portal: sign in, answer the security question, record
the accounts, pick one, finish with its statement total. So what is measured is the platform:
the page snapshot, the harness acting in real Chromium, masking, the conversation and the
HTTP round trip. The sandbox is served by gunicorn on a throwaway PostgreSQL database; runs
execute in this process (``run_create`` + ``run_execute``, as a worker does).

Prints, over ``--runs`` runs: run wall time, turns per run, Deck's time per turn (from the
model's answer to the next request, i.e. acting on the page and reading it again) and the size
of each request (characters, and a rough token count at 4 characters a token).

    .venv/bin/python bench/llm.py --runs 5
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from api import deck_env, free_port, fresh_database, gunicorn, manage, on_sigterm

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/deck_bench_llm"
OUTPUT_SCHEMA = {
    "type": "object",
    "properties": {
        "account_number": {"type": ["string", "null"]},
        "amount_due": {"type": ["number", "null"]},
    },
    "required": ["account_number", "amount_due"],
}


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def cascade_model(body: dict[str, Any]) -> Any:
    """One model turn on the Cascade portal, decided from the page it was shown."""
    from tests.agent.llm_server import tool_calls

    pages = [m["content"] for m in body["messages"] if m["role"] == "user"]
    page = next(p for p in reversed(pages) if p.startswith("Page now:"))
    if "/signin/challenge/" in page.splitlines()[1]:
        question = re.search(r"\[text\] '([^']+\?)'", page)
        return tool_calls(
            (
                "type",
                {
                    "target": {"label": question[1] if question else "answer"},
                    "value": "{{credential.security_answer}}",
                },
            ),
            ("click", {"target": {"role": "button", "name": "Continue"}}),
        )
    if "/signin/" in page.splitlines()[1]:
        return tool_calls(
            ("type", {"target": {"label": "Username"}, "value": "{{credential.username}}"}),
            ("type", {"target": {"label": "Password"}, "value": "{{credential.password}}"}),
            ("click", {"target": {"role": "button", "name": "Sign in"}}),
        )
    radios = re.findall(r"\[radio\] '(.+?) Account (\S+) .*? meter (\S+)' value=", page)
    if radios:
        entities = [
            {"type": "account", "external_id": n, "name": name, "attributes": {"meter": m}}
            for name, n, m in radios
        ]
        return tool_calls(
            ("login_result", {"accepted": True}),
            ("record_entities", {"entities": entities}),
            ("select", {"target": {"label": radios[-1][0]}, "value": "on"}),
            ("click", {"target": {"role": "button", "name": "Continue"}}),
        )
    number = re.search(r"Account number: (\S+)", page)
    total = re.search(r"Total: \$([\d,]+\.\d\d)", page)
    output = {
        "account_number": number[1] if number else None,
        "amount_due": float(total[1].replace(",", "")) if total else None,
    }
    return tool_calls(("finish", {"output": output}))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--model-latency", type=float, default=0.0, help="seconds per answer")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, on_sigterm)
    var_dir = Path(tempfile.mkdtemp(prefix="deck-bench-llm-"))
    env = deck_env(args.database_url, var_dir)
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    try:
        with fresh_database(args.database_url):
            manage({**os.environ, **env}, "migrate", "--noinput")
            with gunicorn(
                {**os.environ, **env}, port=port, workers=1, threads=4, log=var_dir / "g.log"
            ):
                for _ in range(300):
                    try:
                        if httpx.get(f"{base_url}/sandbox/", timeout=2).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    time.sleep(0.1)
                return measure(args, base_url)
    except KeyboardInterrupt:
        return 130
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


def measure(args: argparse.Namespace, base_url: str) -> int:
    import django

    django.setup()
    import tasks.runs
    from deck.services import organization_create
    from tasks import services
    from tasks.agent.browser import browser_pool_close
    from tasks.execution import run_execute
    from tasks.models import TaskRun
    from tasks.runs import run_create
    from tasks.sandbox.accounts import sandbox_multi_account_login
    from tests.agent.llm_server import Reply, scripted_llm

    tasks.runs.run_dispatch = lambda run_id, **kwargs: False
    login = sandbox_multi_account_login("cascade")
    run_seconds: list[float] = []
    turns: list[int] = []
    deck_turn_ms: list[float] = []
    request_chars: list[int] = []
    statuses: list[str] = []

    def answer(body: dict[str, Any]) -> Reply:
        if args.model_latency:
            time.sleep(args.model_latency)
        reply: Reply = cascade_model(body)
        return reply

    with scripted_llm() as llm:
        organization = organization_create(name="Bench", slug="bench")
        agent = services.agent_create(
            organization=organization,
            name="Bench model agent",
            planner="llm",
            llm_base_url=llm.base_url,
            llm_model="scripted",
            llm_api_key="sk-bench-key-000000",
        )
        source = services.source_create(
            organization=organization, name="Cascade", url=f"{base_url}/sandbox/cascade/signin/"
        )
        credential = services.credential_create(
            organization=organization,
            source_id=source.id,
            auth_method="username_password",
            auth_credentials=login.auth_credentials(),
        )
        task = services.task_create(
            organization=organization,
            agent_id=agent.id,
            name="Statement total",
            prompt="Open an account and report its number and latest statement total.",
            input_schema={"type": "object"},
            output_schema=OUTPUT_SCHEMA,
        )
        arrivals: list[float] = []
        original = llm._next

        def timed(body: dict[str, Any]) -> Reply:
            arrivals.append(time.perf_counter())
            reply: Reply = original(body)
            arrivals.append(time.perf_counter())
            return reply

        llm._next = timed  # type: ignore[method-assign]
        try:
            for index in range(args.runs):
                llm.reset()
                llm.add(*[answer] * 10)
                arrivals.clear()
                run = run_create(
                    organization=organization,
                    task_id=task.id,
                    input={},
                    credential_id=credential.id,
                )
                started = time.perf_counter()
                run_execute(run.id)
                run_seconds.append(time.perf_counter() - started)
                statuses.append(TaskRun.objects.get(pk=run.id).status)
                turns.append(len(llm.requests))
                request_chars += [len(json.dumps(r["body"])) for r in llm.requests]
                # From an answer leaving the model to the next request arriving: Deck's work.
                deck_turn_ms += [
                    (arrivals[i + 1] - arrivals[i]) * 1000 for i in range(1, len(arrivals) - 1, 2)
                ]
                print(f"run {index + 1}: {statuses[-1]}, {turns[-1]} turns", file=sys.stderr)
        finally:
            browser_pool_close()

    print(
        f"LLM planner on the Cascade sandbox: {args.runs} runs, model answering after "
        f"{args.model_latency:g} s; gunicorn serves the portal, Chromium via the browser pool, "
        f"{os.cpu_count()} CPU cores shared with everything else"
    )
    print(f"statuses: {', '.join(sorted(set(statuses)))}")
    print(
        f"run wall time: p50 {percentile(run_seconds, 0.5):.2f} s, "
        f"max {max(run_seconds):.2f} s (first run includes the Chromium launch)"
    )
    print(f"turns per run: {min(turns)}-{max(turns)}")
    print(
        f"Deck's time per turn (act on the page + read it again + build the request): "
        f"p50 {percentile(deck_turn_ms, 0.5):.0f} ms, p95 {percentile(deck_turn_ms, 0.95):.0f} ms"
    )
    print(
        f"request size: p50 {percentile([float(c) for c in request_chars], 0.5):.0f} chars, "
        f"max {max(request_chars)} chars (~{max(request_chars) // 4} tokens)"
    )
    return 0 if set(statuses) == {"completed"} else 1


if __name__ == "__main__":
    sys.exit(main())
