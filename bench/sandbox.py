"""How fast the sandbox portals answer, so agent benchmarks know the sandbox is not what
they measure: sign-in walks, page renders and PDF/CSV generation, in process (Django test
client) on a throwaway SQLite database under a temporary ``DECK_VAR_DIR``.

    .venv/bin/python bench/sandbox.py --rounds 50
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _timed(rounds: int, action: Callable[[], object]) -> tuple[float, float]:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.99) - 1)]


def _sign_in_fresh(login: object) -> None:
    """The whole sign-in walk in a new browser-less client (no cookies yet)."""
    from django.test import Client

    from tests.sandbox.conftest import sign_in

    sign_in(Client(), login)  # type: ignore[arg-type]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    var_dir = tempfile.mkdtemp(prefix="deck-bench-sandbox-")
    os.environ["DECK_VAR_DIR"] = var_dir
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deck.settings")
    os.environ["DECK_LOG_LEVEL"] = "WARNING"
    sys.path.insert(0, str(ROOT))
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.test import Client

        from tasks.sandbox.accounts import sandbox_primary_login
        from tasks.sandbox.records import payroll_payslips, utility_bills
        from tests.sandbox.conftest import sign_in

        call_command("migrate", verbosity=0)
        rows: list[tuple[str, float, float]] = []
        for slug, pages in {
            "brightwater": ["", "billing/"],
            "cascade": ["", "statements/"],
            "harbor": ["", "profile/"],
            "paystream": ["", "payslips/"],
        }.items():
            login = sandbox_primary_login(slug)
            rows.append(
                (
                    f"{slug} sign-in (all steps)",
                    *_timed(args.rounds, partial(_sign_in_fresh, login)),
                )
            )
            client = Client()
            sign_in(client, login)
            for page in pages:
                path = f"/sandbox/{slug}/{page}"
                rows.append((f"GET {path}", *_timed(args.rounds, partial(client.get, path))))
            if slug in {"brightwater", "cascade"}:
                bill = utility_bills(slug, login, login.accounts[0])[0]
                number = login.accounts[0].number
                pdf = (
                    f"/sandbox/brightwater/statements/{number}/{bill.id}.pdf"
                    if slug == "brightwater"
                    else f"/sandbox/cascade/documents/{number}/statement-{bill.id}.pdf"
                )
                rows.append(
                    (
                        f"GET bill PDF ({slug})",
                        *_timed(args.rounds, partial(client.get, pdf)),
                    )
                )
            if slug == "paystream":
                slip = payroll_payslips(login)[0]
                for kind in ("pdf", "csv"):
                    path = f"/sandbox/paystream/payslips/{slip.id}/payslip.{kind}"
                    rows.append(
                        (
                            f"GET payslip {kind.upper()}",
                            *_timed(args.rounds, partial(client.get, path)),
                        )
                    )
        print(f"{'what':<42} {'p50 ms':>8} {'p99 ms':>8}   ({args.rounds} rounds, in process)")
        for name, p50, p99 in rows:
            print(f"{name:<42} {p50:>8.2f} {p99:>8.2f}")
        return 0
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
