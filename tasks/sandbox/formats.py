"""How each portal writes money and dates; the agent's job is to normalise them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

# Each portal its own habit, as real sites have.
DATE_STYLES = {
    "brightwater": "{month_abbr} {day}, {year}",  # Jan 5, 2026
    "cascade": "{day} {month_name} {year}",  # 5 January 2026
    "harbor": "{weekday_abbr}, {month_abbr} {day}, {year}",  # Mon, Jan 5, 2026
    "paystream": "{mm}/{dd}/{year}",  # 01/05/2026
}


def usd(value: Decimal | float | int) -> str:
    amount = Decimal(str(value)).quantize(Decimal("0.01"))
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(amount):,.2f}"


def portal_date(value: date, style: str) -> str:
    return DATE_STYLES[style].format(
        month_abbr=value.strftime("%b"),
        month_name=value.strftime("%B"),
        weekday_abbr=value.strftime("%a"),
        day=value.day,
        year=value.year,
        mm=f"{value.month:02d}",
        dd=f"{value.day:02d}",
    )
