"""The whole console flow in real headless Chromium against a sandbox portal: log in, add
the source and a credential, create a task by prompting, run it with the heuristic agent on
Brightwater Energy (password + authenticator code, bills as PDFs), watch it complete, open
every tab and download a captured bill."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connections
from playwright.sync_api import Browser, expect, sync_playwright

from deck.models import Membership
from deck.services import membership_add, organization_create
from storage.models import StorageItem
from tasks import services
from tasks.agent.browser import browser_pool_close
from tasks.execution import run_execute
from tasks.models import TaskRun
from tasks.sandbox.accounts import sandbox_logins
from tests.console.test_e2e import CHROMIUM, shot

PASSWORD = "sandbox-e2e-pass-1!"
JOB = "Get my last three electricity bills with amount and due date, and download the PDFs"


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        yield browser
        browser.close()


@pytest.fixture
def sandbox_world(settings, tmp_path, monkeypatch, live_server) -> Iterator[None]:
    settings.SANDBOX_TODAY = date(2026, 3, 18)
    # Signed download links are absolute, on the deployment's public URL.
    settings.PUBLIC_URL = live_server.url
    settings.MEDIA_ROOT = tmp_path / "media"
    # The agent's own planner (heuristic), not the scripted one the other console tests use.
    settings.DECK_AGENT_PLANNER = ""
    # This test is the worker: nothing is published to a broker nobody consumes.
    monkeypatch.setattr("tasks.runs.run_dispatch", lambda run_id, **kwargs: False)
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    yield
    browser_pool_close()
    connections.close_all()


def _work(run_id: str, outcome: dict[str, str]) -> None:
    """The worker, on a thread of its own (Playwright's sync API owns the test's thread)."""
    try:
        outcome["status"] = run_execute(run_id)
    finally:
        connections.close_all()


@pytest.mark.django_db(transaction=True)
def test_prompted_task_runs_on_a_sandbox_portal(live_server, browser, sandbox_world) -> None:
    login = sandbox_logins("brightwater")[0]
    organization = organization_create(name="Acme Utilities", slug="acme")
    user = get_user_model().objects.create_user(username="ops@acme.test", password=PASSWORD)
    membership_add(organization=organization, user=user, role=Membership.Role.OWNER)
    services.agent_create(organization=organization, name="Utility bills")
    base = live_server.url
    page = browser.new_page(viewport={"width": 1360, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto(f"{base}/login/")
    page.get_by_label("Email").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Acme Utilities")).to_be_visible()

    # The portal, and a login for it with its authenticator seed.
    page.goto(f"{base}/sources/new/")
    page.get_by_label("Name", exact=True).fill("Brightwater Energy")
    page.get_by_label("URL").fill(f"{base}/sandbox/brightwater/login/")
    page.get_by_role("button", name=re.compile("Create|Save|Add")).click()
    expect(page.get_by_text("Brightwater Energy").first).to_be_visible()
    page.goto(f"{base}/credentials/new/")
    source_option = page.locator("#id_source option", has_text="Brightwater")
    page.get_by_label("Source").select_option(source_option.get_attribute("value"))
    page.get_by_label("Username").fill(login.email)
    page.get_by_label("Password", exact=True).fill(login.password)
    page.get_by_label("TOTP seed").fill(login.totp_secret)
    page.get_by_role("button", name=re.compile("Create|Save|Add")).click()
    expect(page.get_by_text(login.email).first).to_be_visible()

    # The task, by prompting.
    page.goto(f"{base}/tasks/new/")
    expect(page.get_by_text("Start from a template")).to_be_visible()
    shot(page, "task-new")
    page.get_by_label("Describe the job").fill(JOB)
    page.get_by_role("button", name="Draft the task").click()
    expect(page.locator("#draft-notes")).to_contain_text("Recognised the job: bills.")
    page.get_by_role("button", name="Create task").click()
    expect(page.get_by_role("heading", name="Fetch the last 3 electricity bills")).to_be_visible()

    # Run it on the credential; the count comes from the drafted input.
    target = page.locator("#id_target option", has_text=login.email)
    page.get_by_label("Run on").select_option(target.get_attribute("value"))
    page.get_by_label("count").fill("3")
    page.get_by_role("button", name="Run task").click()
    page.wait_for_url(re.compile(r"/runs/trun_"))
    run_id = page.url.rstrip("/").split("/")[-1].split("?")[0]
    header = page.locator("#run-header")
    expect(header.locator('[data-status="queued"]')).to_be_visible()

    outcome: dict[str, str] = {}
    worker = threading.Thread(target=_work, args=(run_id, outcome))
    worker.start()
    expect(header.locator('[data-status="completed"], [data-status="failed"]')).to_be_visible(
        timeout=120_000
    )
    worker.join(timeout=60)
    run = TaskRun.objects.get(pk=run_id)
    assert run.status == TaskRun.Status.COMPLETED, (run.errors, outcome)
    assert run.output is not None
    bills = run.output["bills"]
    assert len(bills) == 3
    assert all(isinstance(bill["amount"], int | float) for bill in bills)
    shot(page, "sandbox-run-input")

    tab = page.locator("#run-tab")
    tab.get_by_role("link", name="Output").click()
    expect(tab.locator('[data-schema="valid"]')).to_be_visible()
    expect(tab.locator("caption")).to_contain_text("bills · 3 items")
    shot(page, "sandbox-run-output")

    tab.get_by_role("link", name="Storage").click()
    expect(tab.locator(".storage-item").first).to_be_visible()
    assert StorageItem.objects.filter(task_run_id=run_id).count() >= 1
    with page.expect_download() as download:
        tab.get_by_role("link", name=re.compile(r"^Download")).first.click()
    pdf = Path(download.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF")
    first_page = tab.locator("img.storage-page").first
    assert first_page.evaluate("img => img.decode().then(() => img.naturalWidth)") > 300
    shot(page, "sandbox-run-storage")

    tab.get_by_role("link", name="Screenshots").click()
    gallery = tab.locator(".gallery img")
    expect(gallery.first).to_be_visible()
    # decode() waits for the image to arrive: a signed link that failed would reject.
    assert gallery.first.evaluate("img => img.decode().then(() => img.naturalWidth)") > 100
    shot(page, "sandbox-run-screenshots")
    tab.locator(".gallery a").first.click()
    lightbox = page.locator(".lightbox:target")
    expect(lightbox).to_be_visible()
    shot(page, "sandbox-run-lightbox")
    lightbox.get_by_role("link", name="Close").click()
    expect(page.locator(".lightbox:target")).to_have_count(0)
    tab.locator(".gallery a").nth(1).click()
    expect(page.locator(".lightbox:target")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator(".lightbox:target")).to_have_count(0)

    tab.get_by_role("link", name="Steps").click()
    expect(tab.locator(".trace-step").first).to_be_visible()
    shot(page, "sandbox-run-steps")
    tab.get_by_role("link", name="Events").click()
    expect(tab).to_contain_text("task_run.completed")
    tab.get_by_role("link", name="Input").click()
    expect(tab).to_contain_text("count")

    page.goto(f"{base}/storage/")
    expect(page.locator("#storage-table")).to_contain_text(".pdf")
    shot(page, "sandbox-storage")
    page.goto(f"{base}/entities/")
    shot(page, "sandbox-entities")
    page.goto(f"{base}/tasks/{run.task_id}/")
    expect(page.locator(".progress-text")).to_have_text("1 of 3 successful runs to test")
    shot(page, "sandbox-task")
    page.goto(f"{base}/")
    shot(page, "sandbox-dashboard")
    assert login.password not in page.content()
    assert errors == []
