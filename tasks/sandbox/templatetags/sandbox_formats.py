from __future__ import annotations

from datetime import date
from decimal import Decimal

from django import template

from tasks.sandbox.formats import portal_date, usd

register = template.Library()


@register.filter(name="usd")
def usd_filter(value: Decimal | float | int | None) -> str:
    return "" if value is None else usd(value)


@register.filter(name="portal_date")
def portal_date_filter(value: date | None, style: str) -> str:
    return "" if value is None else portal_date(value, style)
