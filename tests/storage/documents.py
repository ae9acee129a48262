"""Real documents for the storage tests, made with reportlab."""

from __future__ import annotations

import base64
import io

from reportlab.pdfgen import canvas


def pdf(*lines: str) -> bytes:
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, invariant=True)
    y = 800
    for line in lines:
        page.drawString(72, y, line)
        y -= 20
    page.save()
    return buffer.getvalue()


def bill(account: str, period_start: str, amount: str, *extra: str) -> bytes:
    return pdf(
        "EnergyLink",
        f"Account number: {account}",
        f"Billing period start: {period_start}",
        f"Amount due: ${amount}",
        *extra,
    )


def capture_line(name: str, content_type: str, data: bytes) -> str:
    return f"capture {name} {content_type} {base64.b64encode(data).decode()}"
