"""Real documents for the extraction tests, drawn with reportlab / openpyxl / Pillow."""

from __future__ import annotations

import io
from collections.abc import Callable

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, letter
from reportlab.pdfgen import canvas
from reportlab.platypus import Table, TableStyle

Draw = Callable[[canvas.Canvas], None]


def pdf(*pages: Draw, pagesize: tuple[float, float] = letter) -> bytes:
    buffer = io.BytesIO()
    pdf_canvas = canvas.Canvas(buffer, pagesize=pagesize)
    for draw in pages:
        draw(pdf_canvas)
        pdf_canvas.showPage()
    pdf_canvas.save()
    return buffer.getvalue()


def utility_bill() -> bytes:
    """Labels on the left, values right-aligned; address on two lines; a charges table."""

    def page(c: canvas.Canvas) -> None:
        c.setFont("Helvetica-Bold", 22)
        c.drawString(72, 720, "EnergyLink")
        c.setFont("Helvetica", 9)
        c.drawString(72, 704, "PO Box 1000 - customer care 1-800-555-0100")
        c.setFont("Helvetica", 10)
        rows = [
            ("Account No.", "58291-44720"),
            ("Statement Date", "January 22, 2025"),
            ("Service Period", "Dec 18, 2024 - Jan 20, 2025"),
            ("Service Address", "4421 OAK VIEW LN UNIT 3A"),
            ("", "CAMBRIDGE, MA 02140"),
            ("Total Consumption", "5,348 Therms"),
            ("Balance Due", "$8,247.41"),
            ("Pay By", "02/14/2025"),
        ]
        y = 660
        for label, value in rows:
            if label:
                c.drawString(72, y, label)
            c.drawRightString(540, y, value)
            y -= 18
        y -= 24
        c.setFont("Helvetica-Bold", 10)
        c.drawString(72, y, "Charge")
        c.drawRightString(420, y, "Usage")
        c.drawRightString(540, y, "Amount")
        c.setFont("Helvetica", 10)
        for name, usage, amount in [
            ("Gas supply", "5,348", "$6,100.20"),
            ("Delivery", "5,348", "$2,114.47"),
            ("Customer charge", "1", "$32.74"),
        ]:
            y -= 16
            c.drawString(72, y, name)
            c.drawRightString(420, y, usage)
            c.drawRightString(540, y, amount)
        y -= 16
        c.drawString(300, y, "Total current charges")
        c.drawRightString(540, y, "$8,247.41")

    return pdf(page)


def invoice_with_table() -> bytes:
    """A ruled line-items table (reportlab Table) with totals below, values after colons."""

    def page(c: canvas.Canvas) -> None:
        c.setFont("Helvetica-Bold", 18)
        c.drawString(72, 730, "Northwind Supplies Inc.")
        c.setFont("Helvetica", 10)
        c.drawString(72, 712, "12 Harbor Road, Portland, OR 97201")
        c.drawRightString(540, 730, "INVOICE")
        c.drawString(360, 690, "Invoice #: INV-20931")
        c.drawString(360, 676, "Invoice Date: 2026-01-05")
        c.drawString(360, 662, "Due Date: 2026-02-04")
        c.drawString(72, 690, "Bill To: Acme Robotics LLC")
        data = [
            ["Item Description", "Qty", "Unit Price", "Line Total"],
            ["Safety gloves (box)", "4", "$12.50", "$50.00"],
            ["Steel-toe boots", "2", "$89.99", "$179.98"],
            ["Hard hat", "3", "$24.00", "$72.00"],
        ]
        table = Table(data, colWidths=[200, 60, 90, 90])
        table.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
                    ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
                    ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
                ]
            )
        )
        table.wrapOn(c, 440, 200)
        table.drawOn(c, 72, 540)
        c.drawString(360, 510, "Subtotal:")
        c.drawRightString(512, 510, "$301.98")
        c.drawString(360, 496, "Sales tax:")
        c.drawRightString(512, 496, "$24.16")
        c.drawString(360, 482, "Total:")
        c.drawRightString(512, 482, "$326.14")

    return pdf(page)


def statement_labels_above() -> bytes:
    """Labels in a row, their values in the row below (column-aligned)."""

    def page(c: canvas.Canvas) -> None:
        c.setFont("Helvetica-Bold", 16)
        c.drawString(72, 730, "Harbor City Water")
        c.setFont("Helvetica", 9)
        c.drawString(72, 690, "ACCOUNT NUMBER")
        c.drawString(220, 690, "STATEMENT DATE")
        c.drawString(360, 690, "AMOUNT DUE")
        c.drawString(470, 690, "DUE DATE")
        c.setFont("Helvetica", 11)
        c.drawString(72, 674, "771-204-88")
        c.drawString(220, 674, "March 3, 2026")
        c.drawString(360, 674, "$142.07")
        c.drawString(470, 674, "Mar 24, 2026")
        c.setFont("Helvetica", 9)
        c.drawString(72, 640, "BILLING PERIOD")
        c.setFont("Helvetica", 11)
        c.drawString(72, 624, "01/28/2026 to 02/27/2026 (30 days)")
        c.drawString(72, 590, "Thank you for being a customer.")

    return pdf(page)


def two_column_receipt() -> bytes:
    """Pairs of "label value" in two columns on the same lines."""

    def page(c: canvas.Canvas) -> None:
        c.setFont("Helvetica-Bold", 14)
        c.drawCentredString(306, 740, "BLUE BOTTLE CAFE")
        c.setFont("Helvetica", 10)
        c.drawCentredString(306, 724, "Sales Receipt")
        left = [("Receipt No", "R-55120"), ("Date", "5 January 2026"), ("Cashier", "Maya")]
        right = [("Subtotal", "$18.50"), ("Tax", "$1.53"), ("Total", "$20.03")]
        y = 690
        for (l_label, l_value), (r_label, r_value) in zip(left, right, strict=True):
            c.drawString(72, y, l_label)
            c.drawString(170, y, l_value)
            c.drawString(340, y, r_label)
            c.drawRightString(540, y, r_value)
            y -= 16
        c.drawString(72, y - 10, "Paid by: VISA ending 4242")

    return pdf(page)


def european_invoice() -> bytes:
    """Comma decimals, day-first dates, euro amounts, German and English labels."""

    def page(c: canvas.Canvas) -> None:
        c.setFont("Helvetica-Bold", 16)
        c.drawString(60, 780, "Stadtwerke Lindenau GmbH")
        c.setFont("Helvetica", 10)
        c.drawString(60, 764, "Hauptstr. 5, 10115 Berlin")
        rows = [
            ("Rechnungsnummer:", "RE-2026-0042"),
            ("Rechnungsdatum:", "05.01.2026"),
            ("Leistungszeitraum:", "01.12.2025 - 31.12.2025"),
            ("Kundennummer:", "K-99812"),
            ("Zahlbar bis:", "19.01.2026"),
        ]
        y = 720
        for label, value in rows:
            c.drawString(60, y, label)
            c.drawString(220, y, value)
            y -= 16
        y -= 20
        c.drawString(60, y, "Bezeichnung")
        c.drawRightString(520, y, "Betrag")
        for name, amount in [("Arbeitspreis", "1.034,56 €"), ("Grundpreis", "200,00 €")]:
            y -= 16
            c.drawString(60, y, name)
            c.drawRightString(520, y, amount)
        y -= 30
        c.drawString(300, y, "Gesamtbetrag")
        c.drawRightString(520, y, "1.234,56 €")

    return pdf(page, pagesize=A4)


def two_page_statement() -> bytes:
    def first(c: canvas.Canvas) -> None:
        c.setFont("Helvetica-Bold", 16)
        c.drawString(72, 730, "Granite Bank")
        c.setFont("Helvetica", 10)
        c.drawString(72, 700, "Statement period: Feb 1 - Feb 28, 2026")
        c.drawString(72, 684, "Account: 0044-1290")

    def second(c: canvas.Canvas) -> None:
        c.setFont("Helvetica", 10)
        c.drawString(72, 730, "Summary")
        c.drawString(72, 700, "New balance")
        c.drawRightString(540, 700, "(1,020.00)")

    return pdf(first, second)


def png_of_lines(lines: list[tuple[str, str]]) -> bytes:
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (1400, 120 + 70 * len(lines)), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=36)
    y = 60
    for label, value in lines:
        draw.text((60, y), label, fill="black", font=font)
        if value:
            draw.text((800, y), value, fill="black", font=font)
        y += 70
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def scanned_pdf(png: bytes) -> bytes:
    """A PDF page that is only a picture (no text layer), like a scanner produces."""
    from reportlab.lib.utils import ImageReader

    image = ImageReader(io.BytesIO(png))
    width, height = image.getSize()

    def page(c: canvas.Canvas) -> None:
        c.drawImage(image, 36, 400, width=540, height=540 * height / width)

    return pdf(page)
