"""Each portal in a real Chromium against the live test server: a generic sign-in by labels
and roles, as the agent would do it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from django.db import connections
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tasks.sandbox.accounts import sandbox_multi_account_login, sandbox_primary_login

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One browser for the module. Playwright's sync API runs an event loop on this thread;
    the test database calls beside it are ordinary blocking calls all the same, so Django's
    async guard is lifted for the module and its connections closed at the end."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM}")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield from _chromium()
    connections.close_all()


def _chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors


pytestmark = pytest.mark.django_db(transaction=True)


def test_brightwater(live_server, page: Page) -> None:
    login = sandbox_multi_account_login("brightwater")
    page.goto(f"{live_server.url}/sandbox/brightwater/")
    page.get_by_label("Email address").fill(login.email)
    page.get_by_label("Password").fill(login.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Enter the 6-digit code from your authenticator app")).to_be_visible()
    page.get_by_label("6-digit code").fill(pyotp.TOTP(login.totp_secret).now())
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Account overview")).to_be_visible()
    page.get_by_label("Service account").select_option(login.accounts[2].number)
    page.get_by_role("button", name="Go").click()
    page.get_by_role("link", name="Billing", exact=True).click()
    expect(page.get_by_role("heading", name="Billing history")).to_be_visible()
    expect(page.get_by_text(f"Bills for account {login.accounts[2].number}")).to_be_visible()
    expect(page.get_by_role("columnheader", name="Amount due")).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download PDF").first.click()
    assert download.value.suggested_filename.endswith(".pdf")


def test_cascade(live_server, page: Page) -> None:
    login = sandbox_multi_account_login("cascade")
    page.goto(f"{live_server.url}/sandbox/cascade/")
    page.get_by_label("Username").fill(login.username)
    page.get_by_label("Password").fill(login.password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("What was the name of your first pet?").fill(login.security_answer)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Choose an account")).to_be_visible()
    page.get_by_label(re.compile(login.accounts[1].number)).check()
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("link", name="My Statements").click()
    expect(page.get_by_role("heading", name="My Statements")).to_be_visible()
    expect(page.get_by_text(f"Account {login.accounts[1].number}")).to_be_visible()


def test_harbor(live_server, page: Page) -> None:
    login = sandbox_primary_login("harbor")
    page.goto(f"{live_server.url}/sandbox/harbor/")
    page.get_by_label("Member number or email").fill(login.member_number)
    page.get_by_label("Password").fill(login.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Upcoming reservations")).to_be_visible()
    expect(page.get_by_role("columnheader", name="Confirmation number").first).to_be_visible()


def test_paystream(live_server, page: Page) -> None:
    login = sandbox_primary_login("paystream")
    page.goto(f"{live_server.url}/sandbox/paystream/")
    page.get_by_label("Username").fill(login.username)
    page.get_by_label("Password").fill(login.password)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("button", name="Remember this device").click()
    page.get_by_role("link", name="Payslips", exact=True).click()
    expect(page.get_by_role("heading", name="Payslips")).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").first.click()
    assert download.value.suggested_filename.endswith(".csv")


def test_brightwater_redesign_is_still_usable_by_labels_and_roles(live_server, page: Page) -> None:
    from tasks.sandbox.services import sandbox_layout_set

    sandbox_layout_set(slug="brightwater", layout="redesign")
    login = sandbox_primary_login("brightwater")
    page.goto(f"{live_server.url}/sandbox/brightwater/")
    page.get_by_label("Email").fill(login.email)
    page.get_by_label("Password").fill(login.password)
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Authentication code").fill(pyotp.TOTP(login.totp_secret).now())
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("link", name="Bills & payments", exact=True).click()
    expect(page.get_by_role("heading", name="Bills & payments")).to_be_visible()
    headers = page.get_by_role("columnheader").all_inner_texts()
    assert [h.strip().lower() for h in headers][:2] == ["due", "amount"]
