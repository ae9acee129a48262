"""The sandbox portals' own documents (layouts written for the demo, not for this engine),
checked against the records they were drawn from."""

from __future__ import annotations

from typing import Any

import pytest

from storage.extraction import extract
from tasks.sandbox import documents
from tasks.sandbox.accounts import sandbox_primary_login
from tasks.sandbox.records import payroll_employee, payroll_payslips, utility_bills

DATE = {"type": "string", "format": "date"}
BILL: dict[str, Any] = {
    "type": "object",
    "properties": {
        "company_name": {"type": "string"},
        "account_number": {"type": "string"},
        "meter_number": {"type": "string"},
        "billing_date": DATE,
        "billing_period": {
            "type": "object",
            "properties": {"start_date": DATE, "end_date": DATE, "total_days": {"type": "integer"}},
        },
        "amount_due": {"type": "number"},
        "payment_due_date": DATE,
        "currency": {"type": "string"},
        "total_usage": {"type": "number"},
        "total_usage_unit": {"type": "string"},
    },
}


@pytest.mark.parametrize(
    ("portal", "render", "company"),
    [
        ("brightwater", documents.brightwater_bill_pdf, "Brightwater Energy"),
        ("cascade", documents.cascade_statement_pdf, "CASCADE POWER & GAS"),
    ],
)
def test_sandbox_bills(portal, render, company):
    login = sandbox_primary_login(portal)
    account = login.accounts[0]
    for bill in utility_bills(portal, login, account)[:3]:
        result = extract(
            data=render(login, bill),
            file_name="bill.pdf",
            content_type="application/pdf",
            schema=BILL,
        )
        assert result.data == {
            "company_name": company,
            "account_number": account.number,
            "meter_number": account.meter,
            "billing_date": bill.statement_date.isoformat(),
            "billing_period": {
                "start_date": bill.period_start.isoformat(),
                "end_date": bill.period_end.isoformat(),
                "total_days": (bill.period_end - bill.period_start).days,
            },
            "amount_due": float(bill.amount_due),
            "payment_due_date": bill.due_date.isoformat(),
            "currency": "USD",
            "total_usage": bill.usage,
            "total_usage_unit": bill.unit,
        }


def test_sandbox_payslip_pdf_and_csv():
    login = sandbox_primary_login("paystream")
    employee = payroll_employee(login)
    payslips = payroll_payslips(login)
    payslip = payslips[0]
    schema = {
        "type": "object",
        "properties": {
            "employer": {"type": "string", "description": "Company name at the top"},
            "employee_name": {"type": "string", "description": "Employee"},
            "pay_date": DATE,
            "pay_period": {"type": "object", "properties": {"start": DATE, "end": DATE}},
            "gross_pay": {"type": "number"},
            "net_pay": {"type": "number"},
        },
    }
    result = extract(
        data=documents.paystream_payslip_pdf(employee, payslip),
        file_name="payslip.pdf",
        content_type="application/pdf",
        schema=schema,
    )
    assert result.data == {
        "employer": employee.employer,
        "employee_name": employee.full_name,
        "pay_date": payslip.pay_date.isoformat(),
        "pay_period": {
            "start": payslip.period_start.isoformat(),
            "end": payslip.period_end.isoformat(),
        },
        "gross_pay": float(payslip.gross_pay),
        "net_pay": float(payslip.net_pay),
    }

    rows = {
        "type": "object",
        "properties": {
            "payslips": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"pay_date": DATE, "net_pay": {"type": "number"}},
                },
            }
        },
    }
    exported = extract(
        data=documents.paystream_payslips_csv(payslips).encode(),
        file_name="payslips.csv",
        content_type="text/csv",
        schema=rows,
    )
    assert exported.data["payslips"] == [
        {"pay_date": p.pay_date.isoformat(), "net_pay": float(p.net_pay)} for p in payslips
    ]
