from __future__ import annotations

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
from tests.sandbox.test_brightwater import pdf_text

BASE = "/sandbox/cascade/"


@pytest.mark.django_db
def test_username_password_then_security_question(client):
    login = sandbox_primary_login("cascade")
    assert (
        client.post(
            f"{BASE}signin/", {"username": login.username, "password": WRONG_PASSWORD}
        ).status_code
        == 401
    )
    # Cascade signs in by username, not email.
    assert (
        client.post(
            f"{BASE}signin/", {"username": login.email, "password": login.password}
        ).status_code
        == 401
    )
    response = client.post(
        f"{BASE}signin/", {"username": login.username, "password": login.password}
    )
    assert response["Location"].startswith(f"{BASE}signin/challenge/")
    page = client.get(response["Location"]).content.decode()
    assert "What was the name of your first pet?" in page
    assert client.get(BASE).status_code == 302  # not yet in
    assert client.post(f"{BASE}signin/challenge/", {"answer": "Rex"}).status_code == 401
    response = client.post(
        f"{BASE}signin/challenge/", {"answer": f"  {login.security_answer.upper()} "}
    )
    assert response["Location"] == BASE  # one account: no chooser
    page = client.get(BASE).content.decode()
    assert login.accounts[0].number in page
    assert "My Statements</a>" in page
    assert "sessionid" not in client.cookies


@pytest.mark.django_db
def test_multi_account_login_must_choose_an_account(client):
    login = sandbox_multi_account_login("cascade")
    client.post(f"{BASE}signin/", {"username": login.username, "password": login.password})
    response = client.post(f"{BASE}signin/challenge/", {"answer": login.security_answer})
    assert response["Location"] == f"{BASE}accounts/"
    # Every page sends the user back to the chooser until an account is picked.
    assert client.get(f"{BASE}statements/")["Location"] == f"{BASE}accounts/"
    page = client.get(f"{BASE}accounts/").content.decode()
    assert "<h1>Choose an account</h1>" in page
    for account in login.accounts:
        assert f'value="{account.number}"' in page
    assert client.post(f"{BASE}accounts/", {"account": "CPG-000"}).status_code == 400
    gas = login.accounts[1]
    assert client.post(f"{BASE}accounts/", {"account": gas.number})["Location"] == BASE
    statements = client.get(f"{BASE}statements/").content.decode()
    assert f"Account {gas.number}" in statements
    assert "therms" in statements


@pytest.mark.django_db
def test_statements_as_label_value_pairs_and_pdf(client):
    login = sandbox_primary_login("cascade")
    account = login.accounts[0]
    sign_in(client, login)
    bills = utility_bills("cascade", login, account)
    latest = bills[0]
    page = client.get(f"{BASE}statements/").content.decode()
    assert page.count("<article") == 12
    assert "<table" not in page
    assert f"<dt>Total to pay</dt><dd>{usd(latest.amount_due)}</dd>" in page
    assert "<dt>Service from</dt><dd>1 February 2026</dd>" in page
    assert "<dt>Pay by</dt><dd>24 March 2026</dd>" in page
    assert f"<dt>Consumption</dt><dd>{latest.usage} therms</dd>" in page

    response = client.get(f"{BASE}documents/{account.number}/statement-{latest.id}.pdf")
    assert response["Content-Type"] == "application/pdf"
    text = pdf_text(response.content)
    assert "CASCADE POWER & GAS" in text
    assert account.number in text
    assert "1 February 2026" in text
    assert "28 February 2026" in text
    assert usd(latest.amount_due) in text
    assert "Please pay by 24 March 2026" in text
    assert f"{latest.usage:,} therms" in text
    detail = client.get(f"{BASE}statements/{latest.id}/")
    assert detail.status_code == 200


@pytest.mark.django_db
def test_make_a_payment_by_bank_writes_a_reference(client):
    login = sandbox_multi_account_login("cascade")
    sign_in(client, login, account=login.accounts[2].number)
    bank = {
        "method": "bank",
        "account_holder": "Robert Kowalski",
        "routing_number": "021000021",
        "bank_account_number": "000123456789",
    }
    refused = client.post(f"{BASE}payments/new/", {**bank, "amount": "0"})
    assert refused.status_code == 400
    assert not Payment.objects.exists()
    response = client.post(f"{BASE}payments/new/", {**bank, "amount": "1,000"})
    assert response.status_code == 400  # a comma is not a number here
    response = client.post(f"{BASE}payments/new/", {**bank, "amount": "75.5"})
    assert response.status_code == 302
    payment = Payment.objects.get()
    assert payment.confirmation_number.startswith("CPG-")
    assert payment.account_number == login.accounts[2].number
    assert payment.last4 == "6789"
    page = client.get(response["Location"]).content.decode()
    assert f"Reference #{payment.confirmation_number}" in page
    assert "$75.50" in page


@pytest.mark.django_db
@pytest.mark.parametrize("layout", ["classic", "redesign"])
def test_pages_render_in_both_layouts(client, layout):
    sandbox_layout_set(slug="cascade", layout=layout)
    login = sandbox_multi_account_login("cascade")
    sign_in(client, login)
    bill = utility_bills("cascade", login, login.accounts[0])[0]
    for path in ("", "statements/", f"statements/{bill.id}/", "payments/new/", "accounts/"):
        response = client.get(f"{BASE}{path}")
        assert response.status_code == 200, path
        text = response.content.decode()
        if path != "accounts/":
            assert ("Bills &amp; statements</a>" in text) == (layout == "redesign")
            assert ("My Statements</a>" in text) == (layout == "classic")
