"""The real agent end to end: the heuristic planner in real Chromium against the sandbox
portals on the live test server, runs created and executed in process (this test is the
worker), outputs checked against the sandbox's own records."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pyotp
import pytest
from django.core.files.storage import default_storage
from jsonschema import Draft202012Validator

from deck.models import Organization
from storage.models import StorageItem
from tasks import services
from tasks.execution import run_execute
from tasks.models import Entity, RunStep, TaskRun
from tasks.runs import run_answer, run_create
from tasks.sandbox.accounts import (
    SandboxLogin,
    sandbox_multi_account_login,
    sandbox_primary_login,
    sandbox_wrong_login,
)
from tasks.sandbox.catalog import catalog_template, catalog_templates
from tasks.sandbox.models import Cancellation, Payment
from tasks.sandbox.records import hotel_reservations, payroll_payslips, utility_bills
from tasks.sandbox.services import sandbox_layout_set
from tests.api.test_resources import database_dump

TODAY = date(2026, 3, 18)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def worker(settings, monkeypatch, tmp_path, pool):
    """This test is the worker: runs are executed in process, nothing is published."""
    settings.DECK_AGENT_PLANNER = ""
    settings.SANDBOX_TODAY = TODAY
    settings.MEDIA_ROOT = tmp_path
    monkeypatch.setattr("tasks.runs.run_dispatch", lambda run_id, **kwargs: False)


class Portal:
    """A sandbox portal as a Deck source with one credential."""

    def __init__(self, organization: Organization, base: str, slug: str, login: SandboxLogin):
        self.organization = organization
        self.login = login
        self.agent = services.agent_create(organization=organization, name=f"{slug} agent")
        self.source = services.source_create(
            organization=organization, name=slug, url=f"{base}/sandbox/{slug}/"
        )
        self.credential = services.credential_create(
            organization=organization,
            source_id=self.source.id,
            auth_method="username_password",
            auth_credentials=login.auth_credentials(),
        )

    def task(self, key: str) -> Any:
        fields = catalog_template(key).task_fields()
        return services.task_create(
            organization=self.organization, agent_id=self.agent.id, **fields
        )

    def run(self, task: Any, input: dict[str, Any] | None = None, **kwargs: Any) -> TaskRun:
        created = run_create(
            organization=self.organization,
            task_id=task.id,
            input=input or {},
            credential_id=self.credential.id,
            **kwargs,
        )
        run_execute(created.id)
        return TaskRun.objects.get(pk=created.id)


def trace(run: TaskRun) -> str:
    steps = RunStep.objects.filter(run=run).order_by("sequence")
    return "\n".join(
        f"{s.sequence:>2} {s.tool:<14} {json.dumps(s.detail)[:160]} | {s.reasoning}" for s in steps
    )


def completed(run: TaskRun) -> dict[str, Any]:
    assert run.status == TaskRun.Status.COMPLETED, f"{run.errors}\n{trace(run)}"
    assert isinstance(run.output, dict)
    assert not list(Draft202012Validator(run.task.output_schema).iter_errors(run.output))
    return run.output


@pytest.fixture
def portal(org, live_server):
    def make(slug: str, login: SandboxLogin | None = None, layout: str = "classic") -> Portal:
        sandbox_layout_set(slug=slug, layout=layout)
        return Portal(org, live_server.url, slug, login or sandbox_primary_login(slug))

    return make


# The heuristic knows no site: the same rules work on both layouts of every portal.
LAYOUTS = pytest.mark.parametrize("layout", ["classic", "redesign"])


def expected_bill(slug: str, login: SandboxLogin, account_index: int = 0) -> dict[str, Any]:
    account = login.accounts[account_index]
    bill = utility_bills(slug, login, account)[0]
    return {
        "account_number": account.number,
        "billing_period": {
            "start_date": bill.period_start.isoformat(),
            "end_date": bill.period_end.isoformat(),
        },
        "amount_due": float(bill.amount_due),
        "due_date": bill.due_date.isoformat(),
        "usage": bill.usage,
        "usage_unit": bill.unit,
    }


def test_every_template_applies_to_a_tested_portal():
    tested = {
        ("fetch_latest_bill", "brightwater"),
        ("fetch_latest_bill", "cascade"),
        ("list_upcoming_reservations", "harbor"),
        ("pay_bill", "brightwater"),
        ("pay_bill", "cascade"),
        ("download_payslips", "paystream"),
        ("cancel_reservation", "harbor"),
    }
    assert {(t.key, s) for t in catalog_templates() for s in t.sources} == tested


@LAYOUTS
@pytest.mark.parametrize("slug", ["brightwater", "cascade"])
def test_fetch_latest_bill(portal, slug, layout):
    site = portal(slug, layout=layout)
    run = site.run(site.task("fetch_latest_bill"))
    output = completed(run)
    assert output == expected_bill(slug, site.login)
    # The bill's PDF was captured into storage, the real bytes.
    items = list(StorageItem.objects.filter(task_run_id=run.id))
    assert len(items) == 1, trace(run)
    assert items[0].file_type == "application/pdf"
    with default_storage.open(items[0].file.name) as stored:
        assert stored.read(5) == b"%PDF-"
    # Every browser step left a screenshot.
    shots = RunStep.objects.filter(run=run).exclude(screenshot="")
    assert shots.count() >= 5
    with default_storage.open(shots.first().screenshot) as png:
        assert png.read(8) == b"\x89PNG\r\n\x1a\n"


@LAYOUTS
def test_list_upcoming_reservations(portal, layout):
    site = portal("harbor", layout=layout)
    output = completed(site.run(site.task("list_upcoming_reservations")))
    upcoming = [r for r in hotel_reservations(site.login) if r.check_in >= TODAY]
    assert upcoming
    assert output == {
        "reservations": [
            {
                "confirmation_number": r.confirmation_number,
                "hotel_name": r.hotel_name,
                "check_in": r.check_in.isoformat(),
                "check_out": r.check_out.isoformat(),
                "guests": r.guests,
                "total_cost": float(r.total_cost),
            }
            for r in upcoming
        ]
    }


@LAYOUTS
def test_download_payslips(portal, layout):
    site = portal("paystream", layout=layout)
    run = site.run(site.task("download_payslips"))
    output = completed(run)
    assert output["payslips"], trace(run)
    assert output == {
        "payslips": [
            {
                "pay_date": p.pay_date.isoformat(),
                "period": {
                    "start_date": p.period_start.isoformat(),
                    "end_date": p.period_end.isoformat(),
                },
                "gross_pay": float(p.gross_pay),
                "net_pay": float(p.net_pay),
            }
            for p in payroll_payslips(site.login)
        ]
    }
    captured = StorageItem.objects.filter(task_run_id=run.id)
    assert captured.filter(file_type="application/pdf").count() == len(output["payslips"])


CARD = {
    "card_number": "4111 1111 1111 1111",
    "card_expiry": "09/29",
    "card_cvv": "737",
    "cardholder_name": "Dana Q Whitfield",
}


@LAYOUTS
@pytest.mark.parametrize("slug", ["brightwater", "cascade"])
def test_pay_bill_returns_the_confirmation_the_portal_stored(portal, slug, layout):
    site = portal(slug, layout=layout)
    run = site.run(site.task("pay_bill"), {"amount": 42.5, **CARD})
    output = completed(run)
    payment = Payment.objects.get(portal=slug)
    assert output == {
        "confirmation_number": payment.confirmation_number,
        "amount_paid": 42.5,
        "payment_date": TODAY.isoformat(),
    }
    assert (payment.amount, payment.method, payment.last4) == (Decimal("42.50"), "card", "1111")
    assert payment.account_number == site.login.accounts[0].number
    # Tokenized card data never reached the database, the trace or the screenshots' records.
    dump = database_dump()
    for secret in ("4111 1111 1111 1111", "4111111111111111", "Dana Q Whitfield"):
        assert secret not in dump, trace(run)


@LAYOUTS
def test_cancel_reservation_returns_the_cancellation_the_portal_stored(portal, layout):
    site = portal("harbor", layout=layout)
    stay = next(r for r in hotel_reservations(site.login) if r.check_in >= TODAY)
    run = site.run(
        site.task("cancel_reservation"), {"confirmation_number": stay.confirmation_number}
    )
    output = completed(run)
    cancellation = Cancellation.objects.get(portal="harbor", username=site.login.username)
    assert cancellation.reservation_number == stay.confirmation_number
    assert output["cancellation_number"] == cancellation.cancellation_number
    assert output.get("confirmation_number") == stay.confirmation_number
    assert output.get("status") == "Cancelled"


def without(login: SandboxLogin, **fields: Any) -> SandboxLogin:
    return replace(login, **fields)


def test_mfa_by_interaction_resumes_on_the_same_page_without_signing_in_again(portal, org):
    primary = sandbox_primary_login("brightwater")
    site = portal("brightwater", without(primary, totp_secret=""))
    run = site.run(site.task("fetch_latest_bill"))
    assert run.status == TaskRun.Status.INTERACTION_REQUIRED, trace(run)
    assert run.interaction["type"] == "mfa"
    assert [f["name"] for f in run.interaction["fields"]] == ["code"]
    paused_at = RunStep.objects.filter(run=run).count()

    code = pyotp.TOTP(primary.totp_secret).now()
    run_answer(organization=org, run_id=run.id, answer={"code": code})
    run_execute(run.id)
    run.refresh_from_db()
    assert completed(run) == expected_bill("brightwater", primary)
    resumed = list(RunStep.objects.filter(run=run, sequence__gt=paused_at).order_by("sequence"))
    # Straight on with the code on the page that asked for it: no new visit, no password.
    assert resumed[0].tool == "ask_user"
    assert resumed[1].tool == "type"
    assert resumed[1].detail["value"] == "[secret]"
    assert "verify" in resumed[1].detail["url"]
    assert not any(s.tool == "goto" for s in resumed[:3])
    assert not [s for s in resumed if s.detail.get("target") == {"label": "Password"}]
    assert code not in database_dump()


def test_security_question_by_interaction(portal, org):
    primary = sandbox_primary_login("cascade")
    site = portal("cascade", without(primary, security_answer=""))
    run = site.run(site.task("fetch_latest_bill"))
    assert run.status == TaskRun.Status.INTERACTION_REQUIRED, trace(run)
    assert run.interaction["type"] == "security_question"
    assert primary.security_question in run.interaction["message"]

    run_answer(organization=org, run_id=run.id, answer={"answer": primary.security_answer})
    run_execute(run.id)
    run.refresh_from_db()
    assert completed(run)["account_number"] == primary.accounts[0].number


def test_a_wrong_password_fails_as_auth_invalid(portal):
    site = portal("brightwater", sandbox_wrong_login("brightwater"))
    run = site.run(site.task("fetch_latest_bill"))
    assert run.status == TaskRun.Status.FAILED, trace(run)
    assert (run.errors[-1]["type"], run.errors[-1]["code"]) == ("source", "auth_invalid")
    # The site's own words say why.
    assert "password you entered is incorrect" in run.errors[-1]["message"]


def test_a_second_run_in_the_session_continues_logged_in(portal, org):
    site = portal("harbor")
    first = site.run(site.task("list_upcoming_reservations"))
    completed(first)
    task = site.task("list_upcoming_reservations")
    created = run_create(organization=org, task_id=task.id, input={}, session_id=first.session_id)
    run_execute(created.id)
    second = TaskRun.objects.get(pk=created.id)
    assert completed(second) == first.output
    tools = list(RunStep.objects.filter(run=second).values_list("tool", "detail"))
    assert not [d for t, d in tools if t == "type"], trace(second)


@pytest.mark.parametrize("slug", ["cascade", "brightwater"])
def test_a_multi_account_login_uses_the_account_the_input_names(portal, slug):
    login = sandbox_multi_account_login(slug)
    site = portal(slug, login)
    run = site.run(site.task("fetch_latest_bill"), {"account_number": login.accounts[1].number})
    assert completed(run) == expected_bill(slug, login, 1)


def test_the_account_chooser_asks_when_nothing_says_which(portal, org):
    login = sandbox_multi_account_login("cascade")
    site = portal("cascade", login)
    run = site.run(site.task("fetch_latest_bill"))
    assert run.status == TaskRun.Status.INTERACTION_REQUIRED, trace(run)
    assert run.interaction["type"] == "account_selection"
    assert login.accounts[2].number in run.interaction["message"]
    run_answer(organization=org, run_id=run.id, answer={"account": login.accounts[2].number})
    run_execute(run.id)
    run.refresh_from_db()
    assert completed(run) == expected_bill("cascade", login, 2)


def test_logins_record_their_accounts_and_a_scoped_run_uses_one(portal, org):
    login = sandbox_multi_account_login("brightwater")
    site = portal("brightwater", login)
    task = site.task("fetch_latest_bill")
    first = site.run(task)
    assert completed(first)["account_number"] == login.accounts[0].number
    entities = {e.external_id: e for e in Entity.objects.filter(credential=site.credential)}
    assert set(entities) == {a.number for a in login.accounts}
    assert {e.type for e in entities.values()} == {"account"}
    assert entities[login.accounts[2].number].name == login.accounts[2].nickname
    site.credential.refresh_from_db()
    assert site.credential.status == "verified"

    scoped = site.run(task, entity_ids=[entities[login.accounts[2].number].id])
    assert completed(scoped) == expected_bill("brightwater", login, 2)


def test_a_rejected_login_marks_the_credential_invalid(portal):
    site = portal("cascade", sandbox_wrong_login("cascade"))
    run = site.run(site.task("fetch_latest_bill"))
    assert (run.errors[-1]["type"], run.errors[-1]["code"]) == ("source", "auth_invalid")
    site.credential.refresh_from_db()
    assert site.credential.status == "invalid"


def test_no_secret_reaches_the_trace_logs_events_or_database(portal, caplog):
    caplog.set_level("DEBUG")
    site = portal("brightwater")
    card = {**CARD, "card_number": "5500 0000 0000 0004", "cardholder_name": "Quinn Secretname"}
    run = site.run(site.task("pay_bill"), {"amount": 12.34, **card})
    completed(run)
    typed = RunStep.objects.filter(run=run, tool="type")
    secret_steps = [s for s in typed if s.detail["value"] == "[secret]"]
    # Password, one-time code, card number, CVV and cardholder name: masked, screenshotted.
    assert len(secret_steps) == 5, trace(run)
    assert all(s.screenshot for s in secret_steps)
    login = site.login
    secrets = [
        login.password,
        login.totp_secret,
        "5500 0000 0000 0004",
        "5500000000000004",
        "Quinn Secretname",
    ]
    dump = database_dump()
    for secret in secrets:
        assert secret not in dump
        assert secret not in caplog.text
    assert not [s for s in typed if s.detail["value"] == card["card_cvv"]]
