from __future__ import annotations

import csv
import io

import pytest

from tasks.sandbox.accounts import WRONG_PASSWORD, sandbox_primary_login
from tasks.sandbox.formats import usd
from tasks.sandbox.records import payroll_payslips
from tasks.sandbox.services import sandbox_layout_set
from tests.sandbox.conftest import TODAY, sign_in
from tests.sandbox.test_brightwater import pdf_text

BASE = "/sandbox/paystream/"


@pytest.mark.django_db
def test_login_and_remember_this_device(client):
    login = sandbox_primary_login("paystream")
    assert (
        client.post(
            f"{BASE}login/", {"username": login.username, "password": WRONG_PASSWORD}
        ).status_code
        == 401
    )
    response = client.post(
        f"{BASE}login/", {"username": login.username, "password": login.password}
    )
    assert response["Location"].startswith(f"{BASE}login/device/")
    assert "Remember this device?" in client.get(response["Location"]).content.decode()
    assert client.get(BASE).status_code == 302
    response = client.post(f"{BASE}login/device/", {"remember": "yes"})
    assert response["Location"] == BASE
    assert login.full_name in client.get(BASE).content.decode()
    # Signed out and back in on a remembered device: no interstitial.
    client.post(f"{BASE}logout/")
    assert client.get(BASE).status_code == 302
    response = client.post(
        f"{BASE}login/", {"username": login.username, "password": login.password}
    )
    assert response["Location"] == BASE


@pytest.mark.django_db
def test_profile_payslips_pdf_and_csv(client):
    login = sandbox_primary_login("paystream")
    sign_in(client, login)
    slips = payroll_payslips(login)
    assert len(slips) == 12
    latest = slips[0]
    assert latest.pay_date <= TODAY
    assert latest.pay_date.weekday() == 4
    assert latest.gross_pay - latest.taxes - latest.deductions == latest.net_pay

    profile = client.get(f"{BASE}profile/").content.decode()
    assert f"<dt>Employee ID</dt><dd>{login.employee_id}</dd>" in profile

    page = client.get(f"{BASE}payslips/").content.decode()
    for header in ("Pay date", "Pay period", "Gross pay", "Taxes", "Net pay"):
        assert f">{header}</th>" in page
    assert page.count("Download PDF") == 12
    assert latest.pay_date.strftime("%m/%d/%Y") in page
    assert usd(latest.net_pay) in page

    pdf = client.get(f"{BASE}payslips/{latest.id}/payslip.pdf")
    assert pdf["Content-Type"] == "application/pdf"
    text = pdf_text(pdf.content)
    assert login.full_name in text
    assert f"Pay date: {latest.pay_date.strftime('%m/%d/%Y')}" in text
    assert usd(latest.gross_pay) in text
    assert usd(latest.net_pay) in text

    one = client.get(f"{BASE}payslips/{latest.id}/payslip.csv")
    assert one["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(one.content.decode())))
    assert rows == [
        {
            **rows[0],
            "pay_date": latest.pay_date.isoformat(),
            "gross_pay": str(latest.gross_pay),
            "net_pay": str(latest.net_pay),
        }
    ]
    every = list(
        csv.DictReader(io.StringIO(client.get(f"{BASE}payslips/all.csv").content.decode()))
    )
    assert [row["pay_date"] for row in every] == [s.pay_date.isoformat() for s in slips]
    assert client.get(f"{BASE}payslips/2020-01-03/payslip.pdf").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("layout", ["classic", "redesign"])
def test_pages_render_in_both_layouts(client, layout):
    sandbox_layout_set(slug="paystream", layout=layout)
    login = sandbox_primary_login("paystream")
    page = client.get(f"{BASE}login/").content.decode()
    assert ("Sign in</button>" in page) == (layout == "redesign")
    sign_in(client, login)
    slip = payroll_payslips(login)[0]
    for path in ("", "profile/", "payslips/", f"payslips/{slip.id}/"):
        response = client.get(f"{BASE}{path}")
        assert response.status_code == 200, path
        text = response.content.decode()
        assert ("Pay statements</a>" in text) == (layout == "redesign")
