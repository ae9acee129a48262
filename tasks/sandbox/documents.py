"""The documents the portals hand out: bill and payslip PDFs (each portal its own layout)
and payslip CSVs. ``invariant=1`` keeps the PDF bytes stable for the same record."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, LETTER
from reportlab.pdfgen.canvas import Canvas

from tasks.sandbox.accounts import SandboxLogin
from tasks.sandbox.formats import portal_date, usd
from tasks.sandbox.records import Bill, Employee, Payslip


def _canvas(buffer: io.BytesIO, *, title: str, pagesize: tuple[float, float]) -> Canvas:
    canvas = Canvas(buffer, pagesize=pagesize, invariant=1)
    canvas.setTitle(title)
    canvas.setAuthor("Deck sandbox")
    return canvas


def brightwater_bill_pdf(login: SandboxLogin, bill: Bill) -> bytes:
    """Letter size, a navy banner, a summary box on the right and a charges table."""
    buffer = io.BytesIO()
    width, height = LETTER
    pdf = _canvas(buffer, title=f"Brightwater Energy bill {bill.id}", pagesize=LETTER)
    d = lambda value: portal_date(value, "brightwater")  # noqa: E731

    pdf.setFillColor(colors.HexColor("#0b3d6b"))
    pdf.rect(0, height - 90, width, 90, fill=1, stroke=0)
    pdf.setFillColor(colors.white)
    pdf.setFont("Helvetica-Bold", 22)
    pdf.drawString(40, height - 50, "Brightwater Energy")
    pdf.setFont("Helvetica", 11)
    pdf.drawString(40, height - 70, "Electricity Statement")
    pdf.drawRightString(width - 40, height - 50, f"Statement date: {d(bill.statement_date)}")

    pdf.setFillColor(colors.black)
    y = height - 130
    pdf.setFont("Helvetica-Bold", 11)
    pdf.drawString(40, y, login.full_name)
    pdf.setFont("Helvetica", 10)
    pdf.drawString(40, y - 15, f"Service address: {bill.account.address}")
    pdf.drawString(40, y - 30, f"Account number: {bill.account.number}")
    pdf.drawString(40, y - 45, f"Meter number: {bill.account.meter}")
    pdf.drawString(40, y - 60, f"Billing period: {d(bill.period_start)} - {d(bill.period_end)}")

    box_x, box_y = width - 230, y - 70
    pdf.setStrokeColor(colors.HexColor("#0b3d6b"))
    pdf.rect(box_x, box_y, 190, 90, fill=0, stroke=1)
    pdf.setFont("Helvetica", 10)
    pdf.drawString(box_x + 10, box_y + 70, "Amount due")
    pdf.setFont("Helvetica-Bold", 20)
    pdf.drawString(box_x + 10, box_y + 45, usd(bill.amount_due))
    pdf.setFont("Helvetica", 10)
    pdf.drawString(box_x + 10, box_y + 20, f"Due date: {d(bill.due_date)}")

    y = box_y - 40
    pdf.setFont("Helvetica-Bold", 12)
    pdf.drawString(40, y, "Your electricity use")
    pdf.setFont("Helvetica", 10)
    pdf.drawString(40, y - 18, f"Usage: {bill.usage:,} kWh")
    pdf.drawString(40, y - 33, f"Energy rate: ${bill.rate} per kWh")

    y -= 70
    pdf.setFont("Helvetica-Bold", 12)
    pdf.drawString(40, y, "Charges")
    rows = [
        ("Previous balance", usd(bill.previous_balance)),
        ("Payment received - thank you", usd(-bill.previous_balance)),
        ("Basic service charge", usd(bill.basic_charge)),
        (f"Energy charge ({bill.usage:,} kWh)", usd(bill.supply)),
        ("Delivery charge", usd(bill.delivery)),
        ("Taxes and fees", usd(bill.taxes)),
        ("Total amount due", usd(bill.amount_due)),
    ]
    pdf.setFont("Helvetica", 10)
    for index, (label, amount) in enumerate(rows):
        row_y = y - 20 - index * 16
        if index == len(rows) - 1:
            pdf.setFont("Helvetica-Bold", 10)
            pdf.line(40, row_y + 12, width - 40, row_y + 12)
        pdf.drawString(40, row_y, label)
        pdf.drawRightString(width - 40, row_y, amount)

    pdf.setFont("Helvetica", 8)
    pdf.setFillColor(colors.grey)
    pdf.drawString(40, 40, "Brightwater Energy · PO Box 4410, Portland, OR 97208 · 1-800-555-0142")
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def cascade_statement_pdf(login: SandboxLogin, bill: Bill) -> bytes:
    """A4, a green side band, label-value pairs in two columns and a tear-off slip."""
    buffer = io.BytesIO()
    width, height = A4
    pdf = _canvas(buffer, title=f"Cascade Power & Gas statement {bill.id}", pagesize=A4)
    d = lambda value: portal_date(value, "cascade")  # noqa: E731
    service = "Natural gas" if bill.account.service == "gas" else "Electricity"

    pdf.setFillColor(colors.HexColor("#1f6f50"))
    pdf.rect(0, 0, 28, height, fill=1, stroke=0)
    pdf.setFillColor(colors.HexColor("#1f6f50"))
    pdf.setFont("Helvetica-Bold", 18)
    pdf.drawString(50, height - 60, "CASCADE POWER & GAS")
    pdf.setFillColor(colors.black)
    pdf.setFont("Helvetica", 10)
    pdf.drawString(50, height - 78, f"{service} statement for {bill.month_label}")

    pairs = [
        ("Customer", login.full_name),
        ("Account", bill.account.number),
        ("Premises", bill.account.address),
        ("Meter", bill.account.meter),
        ("Statement issued", d(bill.statement_date)),
        ("Service from", d(bill.period_start)),
        ("Service to", d(bill.period_end)),
        ("Consumption", f"{bill.usage:,} {bill.unit}"),
    ]
    y = height - 120
    for label, value in pairs:
        pdf.setFont("Helvetica-Bold", 9)
        pdf.drawString(50, y, label.upper())
        pdf.setFont("Helvetica", 10)
        pdf.drawString(170, y, value)
        y -= 18

    y -= 10
    pdf.setFont("Helvetica-Bold", 11)
    pdf.drawString(50, y, "What you owe")
    y -= 18
    lines = [
        ("Standing charge", usd(bill.basic_charge)),
        (f"{service} supply", usd(bill.supply)),
        ("Network delivery", usd(bill.delivery)),
        ("State utility tax", usd(bill.taxes)),
    ]
    pdf.setFont("Helvetica", 10)
    for label, amount in lines:
        pdf.drawString(50, y, label)
        pdf.drawRightString(330, y, amount)
        y -= 15
    pdf.setFont("Helvetica-Bold", 12)
    pdf.drawString(50, y - 6, "Total to pay")
    pdf.drawRightString(330, y - 6, usd(bill.amount_due))
    pdf.setFont("Helvetica", 10)
    pdf.drawString(50, y - 24, f"Please pay by {d(bill.due_date)}")

    pdf.setDash(4, 3)
    pdf.line(40, 150, width - 30, 150)
    pdf.setDash()
    pdf.setFont("Helvetica-Bold", 10)
    pdf.drawString(50, 130, "Payment slip - return with your payment")
    pdf.setFont("Helvetica", 10)
    pdf.drawString(50, 112, f"Account {bill.account.number}")
    pdf.drawString(50, 97, f"Amount {usd(bill.amount_due)}")
    pdf.drawString(50, 82, f"Pay by {d(bill.due_date)}")
    pdf.drawString(300, 112, "Cascade Power & Gas")
    pdf.drawString(300, 97, "PO Box 9020, Seattle, WA 98111")
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def paystream_payslip_pdf(employee: Employee, payslip: Payslip) -> bytes:
    buffer = io.BytesIO()
    width, height = LETTER
    pdf = _canvas(buffer, title=f"Payslip {payslip.id}", pagesize=LETTER)
    d = lambda value: portal_date(value, "paystream")  # noqa: E731

    pdf.setFont("Helvetica-Bold", 16)
    pdf.drawString(40, height - 50, employee.employer)
    pdf.setFont("Helvetica", 9)
    pdf.drawString(40, height - 64, "Earnings statement · processed by Paystream Payroll")
    pdf.setFont("Helvetica-Bold", 12)
    pdf.drawRightString(width - 40, height - 50, "EARNINGS STATEMENT")

    y = height - 100
    info = [
        ("Employee", employee.full_name),
        ("Employee ID", employee.employee_id),
        ("Department", employee.department),
        ("Pay period", f"{d(payslip.period_start)} - {d(payslip.period_end)}"),
        ("Pay date", d(payslip.pay_date)),
    ]
    for label, value in info:
        pdf.setFont("Helvetica-Bold", 9)
        pdf.drawString(40, y, f"{label}:")
        pdf.setFont("Helvetica", 9)
        pdf.drawString(130, y, value)
        y -= 14

    y -= 16
    pdf.setFillColor(colors.HexColor("#eef1f8"))
    pdf.rect(40, y - 4, width - 80, 16, fill=1, stroke=0)
    pdf.setFillColor(colors.black)
    pdf.setFont("Helvetica-Bold", 9)
    pdf.drawString(46, y, "Description")
    pdf.drawRightString(width - 46, y, "Current")
    rows = [
        ("Regular earnings (80.00 hrs)", usd(payslip.gross_pay)),
        ("Gross pay", usd(payslip.gross_pay)),
        ("401(k) contribution", usd(-payslip.retirement)),
        ("Medical plan", usd(-payslip.health)),
        ("Federal income tax", usd(-payslip.federal_tax)),
        ("State income tax", usd(-payslip.state_tax)),
        ("Social Security", usd(-payslip.social_security)),
        ("Medicare", usd(-payslip.medicare)),
    ]
    pdf.setFont("Helvetica", 9)
    for label, amount in rows:
        y -= 15
        pdf.drawString(46, y, label)
        pdf.drawRightString(width - 46, y, amount)
    y -= 24
    pdf.setFont("Helvetica-Bold", 11)
    pdf.drawString(46, y, "Net pay")
    pdf.drawRightString(width - 46, y, usd(payslip.net_pay))
    pdf.setFont("Helvetica", 8)
    pdf.drawString(46, y - 16, f"Deposited to account ending {employee.bank_last4}")
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


CSV_COLUMNS = (
    "pay_date",
    "period_start",
    "period_end",
    "gross_pay",
    "federal_tax",
    "state_tax",
    "social_security",
    "medicare",
    "retirement_401k",
    "medical",
    "net_pay",
)


def paystream_payslips_csv(payslips: Iterable[Payslip]) -> str:
    """Plain numbers and ISO dates: what payroll exports look like."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for p in payslips:
        writer.writerow(
            [
                p.pay_date.isoformat(),
                p.period_start.isoformat(),
                p.period_end.isoformat(),
                p.gross_pay,
                p.federal_tax,
                p.state_tax,
                p.social_security,
                p.medicare,
                p.retirement,
                p.health,
                p.net_pay,
            ]
        )
    return buffer.getvalue()
