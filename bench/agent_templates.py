"""How long the real agent takes: every catalog template on every sandbox portal it applies to,
with the heuristic planner in headless Chromium, executed in process (this script is the
worker) against the sandbox served on loopback, on a throwaway SQLite database under a
temporary ``DECK_VAR_DIR``. Prints per run: wall time, browser steps, ms per step; then the
same task again in the same session (the kept, logged-in page).

    .venv/bin/python bench/agent_templates.py --rounds 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

CARD = {
    "amount": 10.0,
    "card_number": "4111 1111 1111 1111",
    "card_expiry": "09/29",
    "card_cvv": "737",
    "cardholder_name": "Bench Mark",
}


def _serve() -> tuple[Any, str]:
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadedWSGIServer(("127.0.0.1", 0), Quiet, allow_reuse_address=False)
    server.set_app(WSGIHandler())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    var_dir = tempfile.mkdtemp(prefix="deck-bench-agent-")
    os.environ["DECK_VAR_DIR"] = var_dir
    os.environ["DECK_SANDBOX_TODAY"] = "2026-03-18"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deck.settings")
    os.environ["DECK_LOG_LEVEL"] = "WARNING"
    os.environ.pop("DECK_AGENT_PLANNER", None)
    sys.path.insert(0, str(ROOT))
    server = None
    try:
        import django

        django.setup()
        from django.core.management import call_command

        import tasks.runs
        from deck.services import organization_create
        from tasks import services
        from tasks.agent.browser import browser_pool_close
        from tasks.execution import run_execute
        from tasks.models import RunStep, TaskRun
        from tasks.sandbox.accounts import sandbox_primary_login
        from tasks.sandbox.catalog import catalog_templates
        from tasks.sandbox.records import hotel_reservations, sandbox_today

        call_command("migrate", verbosity=0)
        tasks.runs.run_dispatch = lambda run_id, **kwargs: False
        server, base = _serve()
        organization = organization_create(name="Bench", slug="bench")
        agent = services.agent_create(organization=organization, name="Bench agent")

        def execute(task: Any, credential: Any, payload: dict[str, Any], **kw: Any) -> Any:
            started = time.perf_counter()
            run = tasks.runs.run_create(
                organization=organization, task_id=task.id, input=payload, **kw
            )
            run_execute(run.id)
            elapsed = (time.perf_counter() - started) * 1000
            run = TaskRun.objects.get(pk=run.id)
            steps = RunStep.objects.filter(run=run).exclude(screenshot="").count()
            return run, elapsed, steps

        print(f"{'template':<28} {'portal':<12} {'run':>5} {'ms':>8} {'steps':>6} {'ms/step':>8}")
        cold = True
        for template in catalog_templates():
            for slug in template.sources:
                login = sandbox_primary_login(slug)
                source = services.source_create(
                    organization=organization, name=slug, url=f"{base}/sandbox/{slug}/"
                )
                task = services.task_create(
                    organization=organization, agent_id=agent.id, **template.task_fields()
                )
                timings = []
                for round_ in range(args.rounds):
                    # A fresh credential each round: cancellations and payments stay valid.
                    credential = services.credential_create(
                        organization=organization,
                        source_id=source.id,
                        auth_method="username_password",
                        auth_credentials=login.auth_credentials(),
                    )
                    payload: dict[str, Any] = {}
                    if template.key == "pay_bill":
                        payload = dict(CARD)
                    elif template.key == "cancel_reservation":
                        upcoming = [
                            r for r in hotel_reservations(login) if r.check_in >= sandbox_today()
                        ]
                        payload = {
                            "confirmation_number": upcoming[
                                round_ % len(upcoming)
                            ].confirmation_number
                        }
                    run, ms, steps = execute(task, credential, payload, credential_id=credential.id)
                    label = "cold" if cold else f"#{round_ + 1}"
                    cold = False
                    timings.append(ms)
                    status = "" if run.status == "completed" else f"  {run.status} {run.errors}"
                    print(
                        f"{template.key:<28} {slug:<12} {label:>5} {ms:>8.0f} {steps:>6} "
                        f"{ms / max(steps, 1):>8.0f}{status}"
                    )
                    if template.key in ("list_upcoming_reservations", "download_payslips") and (
                        round_ == 0
                    ):
                        _again, ms2, steps2 = execute(
                            task, credential, {}, session_id=run.session_id
                        )
                        print(
                            f"{template.key:<28} {slug:<12} {'same':>5} {ms2:>8.0f} {steps2:>6} "
                            f"{ms2 / max(steps2, 1):>8.0f}  (same session: no sign-in)"
                        )
                print(f"{'':<28} {'':<12} {'med':>5} {statistics.median(timings):>8.0f}")
        browser_pool_close()
        return 0
    finally:
        if server is not None:
            server.shutdown()
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
