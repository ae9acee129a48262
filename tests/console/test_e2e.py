"""The console in a real browser: headless Chromium against the live test server.

No worker runs here: the test plays the worker (``run_execute`` in process) while the run
page, polling on its own, follows the run to the end.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connections
from playwright.sync_api import Browser, Page, expect, sync_playwright

from deck.models import Membership
from deck.services import membership_add, organization_create
from tasks.execution import run_execute
from tasks.models import TaskRun
from tasks.runs import run_create
from tests.api.factories import make_credential, make_source

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
SECRET_ACCOUNT = "ACCT-7781-2290-SECRET"
PASSWORD = "e2e-pass-123!"

INPUT_SCHEMA = {
    "type": "object",
    "properties": {
        "account_number": {"type": "string", "description": "The customer's account number."},
        "start_date": {"type": "string", "format": "date"},
        "months": {"type": "integer", "minimum": 1, "maximum": 12},
    },
    "required": ["account_number"],
    "tokenized": ["account_number"],
}
OUTPUT_SCHEMA = {
    "type": "object",
    "properties": {"amount_due": {"type": "number"}, "due_date": {"type": "string"}},
    "required": ["amount_due"],
}
PROMPT = 'login\noutput {"amount_due": 84.12, "due_date": "2025-02-01"}'


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def orm_beside_playwright(browser: Browser, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Playwright's sync API runs an event loop on this thread; the test's ORM calls are
    ordinary blocking calls all the same. Django gives them a connection of their own there,
    which is closed here, before the test database is dropped."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    yield
    connections.close_all()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"console-{name}.png"), full_page=True)


@pytest.mark.django_db(transaction=True)
def test_create_a_task_run_it_and_follow_the_run(
    live_server, browser, orm_beside_playwright, monkeypatch
) -> None:
    # This test is the worker: nothing is published to a broker nobody consumes.
    monkeypatch.setattr("tasks.runs.run_dispatch", lambda run_id, **kwargs: False)

    organization = organization_create(name="Acme Utilities", slug="acme")
    user = get_user_model().objects.create_user(username="ops@acme.test", password=PASSWORD)
    membership_add(organization=organization, user=user, role=Membership.Role.OWNER)
    source = make_source(organization, name="EnergyLink")
    credential = make_credential(organization, source)

    page = browser.new_page(viewport={"width": 1360, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    base = live_server.url

    # Log in.
    page.goto(f"{base}/login/")
    page.get_by_label("Email").fill("ops@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Acme Utilities")).to_be_visible()

    # An agent, through its form (htmx posts it and follows the redirect).
    page.get_by_role("link", name="Agents", exact=True).click()
    page.get_by_label("Name", exact=True).fill("Utility bills")
    page.get_by_label("Description").fill("Bills and balances from energy portals.")
    page.get_by_role("button", name="Create agent").click()
    expect(page.get_by_role("heading", name="Utility bills")).to_be_visible()

    # A task: described in plain words, drafted for review, then edited before saving.
    page.get_by_role("link", name="New task").click()
    page.get_by_label("Describe the job").fill(
        "Get my last three electricity bills with amount and due date, and download the PDFs"
    )
    page.get_by_role("button", name="Draft the task").click()
    expect(page.locator("#draft-notes")).to_contain_text("Recognised the job: bills.")
    expect(page.get_by_label("Name", exact=True)).to_have_value(
        "Fetch the last 3 electricity bills"
    )
    expect(page.get_by_label("Agent")).to_have_value(re.compile(r"^agt_"))
    expect(page.get_by_label("Capture files")).to_be_checked()
    drafted = json.loads(page.get_by_label("Output schema").input_value())
    assert drafted["properties"]["bills"]["maxItems"] == 3
    shot(page, "task-draft")
    # The JSON editors check as the user types.
    page.get_by_label("Name", exact=True).fill("Latest electricity bill")
    page.get_by_label("Prompt", exact=True).fill(PROMPT)
    input_schema = page.get_by_label("Input schema")
    input_schema.fill('{"type": "object", "properties": {')
    status = page.locator('[data-json-status-for="id_input_schema"]')
    expect(status).to_contain_text("Not valid JSON")
    expect(input_schema).to_have_attribute("aria-invalid", "true")
    expect(status).to_contain_text("Not valid JSON")  # the server's verdict agrees
    input_schema.fill('{"type": "object", "properties": {}, "tokenized": ["card"]}')
    expect(status).to_contain_text("not a property of input_schema")  # only the server knows
    input_schema.fill(json.dumps(INPUT_SCHEMA, indent=2))
    expect(status).to_have_text("Valid: passes the task definition checks.")
    page.get_by_label("Output schema").fill(json.dumps(OUTPUT_SCHEMA, indent=2))
    shot(page, "task-form")
    page.get_by_role("button", name="Create task").click()
    expect(page.get_by_role("heading", name="Latest electricity bill")).to_be_visible()
    expect(page.locator(".progress-text")).to_have_text("0 of 3 successful runs to test")

    # Run it on the credential, from the form generated from the input schema.
    page.get_by_label("Run on").select_option(f"credential:{credential.id}")
    account = page.get_by_label("account_number")
    expect(account).to_have_attribute("type", "password")
    account.fill(SECRET_ACCOUNT)
    page.get_by_label("start_date").fill("2025-01-15")
    page.get_by_label("months").fill("3")
    shot(page, "task-detail")
    page.get_by_role("button", name="Run task").click()
    page.wait_for_url(re.compile(r"/runs/trun_"))
    run_id = page.url.rstrip("/").split("/")[-1]
    header = page.locator("#run-header")
    expect(header.locator('[data-status="queued"]')).to_be_visible()
    expect(header).to_have_attribute("hx-trigger", "every 2s")

    # Play the worker; the page notices through its polling and shows the finished run.
    assert run_execute(run_id) == "finished"
    expect(header.locator('[data-status="completed"]')).to_be_visible(timeout=15_000)
    expect(header).not_to_have_attribute("hx-trigger", "every 2s")
    assert TaskRun.objects.get(pk=run_id).status == TaskRun.Status.COMPLETED
    shot(page, "run-input")

    tab = page.locator("#run-tab")
    for name, expected in [
        ("Output", "Valid"),
        ("Storage", "No files captured"),
        ("Screenshots", "No screenshots"),
        ("Steps", "login"),
        ("Events", "task_run.completed"),
        ("Input", "removed (tokenized)"),
    ]:
        tab.get_by_role("link", name=name).click()
        expect(tab.get_by_role("link", name=name)).to_have_attribute("aria-current", "page")
        expect(tab).to_contain_text(expected)
        assert SECRET_ACCOUNT not in page.content()
        if name in ("Output", "Steps", "Events"):
            shot(page, f"run-{name.lower()}")
    expect(page).to_have_url(re.compile(r"\?tab=input$"))

    # A second run fails (the source rejects this login) and shows on the dashboard.
    rejected = make_credential(organization, source, username="sam", password="wrong-password")
    task_id = TaskRun.objects.get(pk=run_id).task_id
    failing = run_create(
        organization=organization,
        task_id=task_id,
        input={"account_number": SECRET_ACCOUNT},
        credential_id=rejected.id,
    )
    assert run_execute(failing.id) == "failed"

    for path, name in [
        ("/", "dashboard"),
        (f"/credentials/{credential.id}/edit/", "credential-edit"),
        ("/agents/", "agents"),
        ("/sources/", "sources"),
        ("/runs/", "runs"),
        ("/tasks/", "tasks"),
        ("/credentials/", "credentials"),
        ("/sessions/", "sessions"),
        ("/storage/", "storage"),
        ("/settings/", "settings"),
        ("/events/destinations/", "destinations"),
    ]:
        page.goto(f"{base}{path}")
        assert SECRET_ACCOUNT not in page.content()
        assert "hunter2-secret" not in page.content()
        if name == "dashboard":
            failure = page.get_by_role("row").filter(has_text=failing.id)
            expect(failure).to_contain_text("source/auth_invalid")
        shot(page, name)

    # A phone-sized screen: the sidebar becomes a top bar, charts and tables still fit.
    page.set_viewport_size({"width": 390, "height": 844})
    for path, name in [("/", "dashboard-mobile"), (f"/runs/{run_id}/?tab=output", "run-mobile")]:
        page.goto(f"{base}{path}")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{name} scrolls sideways ({width}px)"
        shot(page, name)
    # The skip link is the first thing a keyboard reaches, and it is visible when focused.
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    assert errors == []
