from __future__ import annotations

import io
import time

import pdfplumber
import pyotp
import pytest

from tasks.sandbox.accounts import (
    WRONG_PASSWORD,
    sandbox_multi_account_login,
    sandbox_primary_login,
)
from tasks.sandbox.formats import usd
from tasks.sandbox.models import Payment
from tasks.sandbox.records import utility_bills
from tasks.sandbox.services import sandbox_layout_set
from tests.sandbox.conftest import sign_in

BASE = "/sandbox/brightwater/"
CARD = {
    "method": "card",
    "card_number": "4111 1111 1111 1111",
    "card_expiry": "12/29",
    "card_cvv": "123",
    "cardholder_name": "Dana Whitfield",
}


def pdf_text(content: bytes) -> str:
    assert content.startswith(b"%PDF-")
    with pdfplumber.open(io.BytesIO(content)) as pdf:
        return "\n".join(page.extract_text() or "" for page in pdf.pages)


@pytest.mark.django_db
def test_pages_need_a_signed_in_portal_session(client):
    response = client.get(f"{BASE}billing/")
    assert response.status_code == 302
    assert response["Location"] == f"{BASE}login/?next={BASE}billing/"


@pytest.mark.django_db
def test_wrong_password_is_refused(client):
    login = sandbox_primary_login("brightwater")
    response = client.post(f"{BASE}login/", {"email": login.email, "password": WRONG_PASSWORD})
    assert response.status_code == 401
    assert "The email or password you entered is incorrect." in response.content.decode()
    assert "sbx_brightwater" not in response.cookies
    assert client.get(f"{BASE}login/verify/").status_code == 302


@pytest.mark.django_db
def test_totp_wrong_code_is_refused_and_right_code_signs_in(client):
    login = sandbox_primary_login("brightwater")
    response = client.post(
        f"{BASE}login/", {"email": login.email.upper(), "password": login.password}
    )
    assert response.status_code == 302
    assert response["Location"].startswith(f"{BASE}login/verify/")
    page = client.get(response["Location"]).content.decode()
    assert "Enter the 6-digit code from your authenticator app" in page
    # A code from an hour ago is outside the ±1 step window.
    stale = pyotp.TOTP(login.totp_secret).at(time.time() - 3600)
    response = client.post(f"{BASE}login/verify/", {"code": stale})
    assert response.status_code == 401
    assert client.get(BASE).status_code == 302  # still not signed in
    # The previous 30 s step is still accepted (clock drift). Near the end of a step the
    # server's "now" could already be one step further, two away from "previous".
    if time.time() % 30 > 28:
        time.sleep(2.5)
    previous = pyotp.TOTP(login.totp_secret).at(time.time() - 30)
    response = client.post(f"{BASE}login/verify/", {"code": previous})
    assert response.status_code == 302
    page = client.get(BASE).content.decode()
    assert "Account overview" in page
    assert login.accounts[0].number in page
    # The portal's own cookie, never the console's session.
    assert "sbx_brightwater" in client.cookies
    assert "sessionid" not in client.cookies


@pytest.mark.django_db
def test_multi_account_login_switches_accounts(client):
    login = sandbox_multi_account_login("brightwater")
    sign_in(client, login)
    page = client.get(BASE).content.decode()
    assert '<label for="service-account">Service account</label>' in page
    for account in login.accounts:
        assert f'<option value="{account.number}"' in page
    second = login.accounts[1]
    response = client.post(f"{BASE}account/", {"account": second.number, "next": f"{BASE}billing/"})
    assert response["Location"] == f"{BASE}billing/"
    page = client.get(f"{BASE}billing/").content.decode()
    assert f"Bills for account {second.number}" in page
    assert client.post(f"{BASE}account/", {"account": "9999"}).status_code == 404


@pytest.mark.django_db
def test_billing_table_bill_detail_and_pdf(client):
    login = sandbox_primary_login("brightwater")
    account = login.accounts[0]
    sign_in(client, login)
    bills = utility_bills("brightwater", login, account)
    assert len(bills) == 12
    latest = bills[0]
    # Pinned to 18 March 2026: the newest bill covers February 2026.
    assert (latest.period_start.isoformat(), latest.period_end.isoformat()) == (
        "2026-02-01",
        "2026-02-28",
    )
    page = client.get(f"{BASE}billing/").content.decode()
    for header in ("Month", "Billing period", "Amount due", "Due date", "Status", "Bill"):
        assert '<th scope="col"' in page
        assert f">{header}</th>" in page
    assert page.count("Download PDF") == 12
    assert "Feb 1, 2026 \u2013 Feb 28, 2026" in page
    assert usd(latest.amount_due) in page
    assert "Mar 24, 2026" in page

    detail = client.get(f"{BASE}billing/{latest.id}/").content.decode()
    assert f"<dt>Usage</dt><dd>{latest.usage} kWh</dd>" in detail

    response = client.get(f"{BASE}statements/{account.number}/{latest.id}.pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    text = pdf_text(response.content)
    assert f"Account number: {account.number}" in text
    assert "Billing period: Feb 1, 2026 - Feb 28, 2026" in text
    assert usd(latest.amount_due) in text
    assert "Due date: Mar 24, 2026" in text
    assert f"Usage: {latest.usage:,} kWh" in text
    # invariant=1: the same bill is the same bytes.
    again = client.get(f"{BASE}statements/{account.number}/{latest.id}.pdf")
    assert again.content == response.content
    # Another login's account is not reachable.
    other = sandbox_multi_account_login("brightwater").accounts[0]
    assert client.get(f"{BASE}statements/{other.number}/{latest.id}.pdf").status_code == 404


@pytest.mark.django_db
def test_pay_bill_persists_and_shows_a_confirmation_number(client):
    login = sandbox_primary_login("brightwater")
    account = login.accounts[0]
    sign_in(client, login)
    latest = utility_bills("brightwater", login, account)[0]
    form = client.get(f"{BASE}pay/").content.decode()
    for label in ("Payment amount", "Payment date", "Card number", "Routing number"):
        assert f">{label}" in form

    refused = client.post(
        f"{BASE}pay/", {**CARD, "amount": "50", "card_number": "4111 1111 1111 1112"}
    )
    assert refused.status_code == 400
    assert "Enter a valid card number." in refused.content.decode()
    assert not Payment.objects.exists()

    response = client.post(
        f"{BASE}pay/", {**CARD, "amount": str(latest.amount_due), "payment_date": "2026-03-20"}
    )
    assert response.status_code == 302
    payment = Payment.objects.get()
    assert payment.confirmation_number.startswith("BW-")
    assert payment.account_number == account.number
    assert payment.last4 == "1111"
    assert str(payment.payment_date) == "2026-03-20"
    page = client.get(response["Location"]).content.decode()
    assert (
        f'Confirmation number: <strong id="confirmation-number">{payment.confirmation_number}'
        in page
    )
    assert usd(latest.amount_due) in page
    # The balance reflects it: the newest bill reads Paid.
    billing = client.get(f"{BASE}billing/").content.decode()
    assert "status status-due" not in billing
    assert "Your latest bill is paid" in client.get(BASE).content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("layout", ["classic", "redesign"])
def test_every_page_renders_in_both_layouts(client, layout):
    sandbox_layout_set(slug="brightwater", layout=layout)
    login = sandbox_multi_account_login("brightwater")
    login_page = client.get(f"{BASE}login/").content.decode()
    assert ("Log in" if layout == "redesign" else "Sign in") in login_page
    assert '<meta name="robots" content="noindex, nofollow">' in login_page
    sign_in(client, login)
    bill = utility_bills("brightwater", login, login.accounts[0])[0]
    for path in ("", "billing/", f"billing/{bill.id}/", "pay/"):
        response = client.get(f"{BASE}{path}")
        assert response.status_code == 200, path
        assert response["X-Robots-Tag"] == "noindex, nofollow"
        page = response.content.decode()
        assert ("Bills &amp; payments" in page) == (layout == "redesign")
        assert ('id="service-account"' in page) == (layout == "classic")
        assert ('id="acct-select"' in page) == (layout == "redesign")
