from __future__ import annotations

import datetime

import pytest

from storage.extraction.labels import phrases_for, score, tokens
from storage.extraction.normalize import (
    Locale,
    currency_in,
    locale_of,
    parse_amount,
    parse_boolean,
    parse_date,
    parse_date_range,
)

US = Locale()
EU = Locale(day_first=True, decimal_comma=True, currency="EUR")


@pytest.mark.parametrize(
    ("text", "locale", "expected"),
    [
        ("Jan 5, 2026", US, "2026-01-05"),
        ("January 5th 2026", US, "2026-01-05"),
        ("5 January 2026", US, "2026-01-05"),
        ("5. Januar 2026", EU, "2026-01-05"),
        ("2026-01-05", US, "2026-01-05"),
        ("2026/01/05", EU, "2026-01-05"),
        ("01/05/2026", US, "2026-01-05"),  # month first by default
        ("05/01/2026", EU, "2026-01-05"),  # day first in a European document
        ("31/01/2026", US, "2026-01-31"),  # unambiguous whatever the locale
        ("01/31/2026", EU, "2026-01-31"),
        ("05.01.2026", US, "2026-01-05"),  # dots always mean day first
        ("05-Jan-26", US, "2026-01-05"),
        ("Due: 3 mars 2026", EU, "2026-03-03"),
        ("February 2026", US, "2026-02-01"),
    ],
)
def test_dates(text, locale, expected):
    found = parse_date(text, locale)
    assert found is not None
    assert found[0].isoformat() == expected


@pytest.mark.parametrize("text", ["no date here", "13/13/2026", "Feb 30, 2026", "12345"])
def test_not_dates(text):
    assert parse_date(text, US) is None


def test_date_ranges_borrow_the_year():
    assert parse_date_range("Jan 5, 2026 \u2013 Feb 4, 2026")[:2] == (
        datetime.date(2026, 1, 5),
        datetime.date(2026, 2, 4),
    )
    assert parse_date_range("Dec 18 - Jan 20, 2025")[:2] == (
        datetime.date(2024, 12, 18),
        datetime.date(2025, 1, 20),
    )
    assert parse_date_range("12/18/2024 to 01/20/2025")[:2] == (
        datetime.date(2024, 12, 18),
        datetime.date(2025, 1, 20),
    )
    assert parse_date_range("Issued Jan 5, 2026; paid Feb 4, 2026") is None


@pytest.mark.parametrize(
    ("text", "locale", "value", "currency"),
    [
        ("$1,234.56", US, 1234.56, "USD"),
        ("1.234,56 €", EU, 1234.56, "EUR"),
        ("1.234,56 €", US, 1234.56, "EUR"),  # both separators: the last one is decimal
        ("(12.00)", US, -12.0, None),
        ("-$5.00", US, -5.0, "USD"),
        ("12.00 CR", US, -12.0, None),
        ("USD 12", US, 12.0, "USD"),
        ("£7", US, 7.0, "GBP"),
        ("€ 12,50", EU, 12.5, "EUR"),
        ("CHF 1'234.50", US, 1234.5, "CHF"),
        ("1 234,56 EUR", EU, 1234.56, "EUR"),
        ("5,348 Therms", US, 5348.0, None),
        ("Invoice 1042 total $84.12", US, 84.12, "USD"),
        ("Paid on 01/02/2026: $10.00", US, 10.0, "USD"),
    ],
)
def test_amounts(text, locale, value, currency):
    found = parse_amount(text, locale)
    assert found is not None
    assert (found.value, found.currency) == (value, currency)


def test_locale_evidence():
    assert locale_of("Total 1.234,56 € on 05.01.2026") == Locale(True, True, "EUR")
    assert locale_of("Total $1,234.56 due 01/31/2026") == Locale(False, False, "USD")
    # Unambiguous day-first dates win over a dollar sign.
    assert locale_of("Date 25/12/2025 Amount $10.00").day_first is True
    # No numeric evidence: pounds read day-first.
    assert locale_of("Amount £10.00 date 03/04/2026").day_first is True


def test_currency_codes():
    assert currency_in("Amount $12.00 CAD", most_common=True) == "CAD"
    assert currency_in("Total 12 euros") == "EUR"
    assert currency_in("nothing") is None


@pytest.mark.parametrize(
    ("text", "value"),
    [("Yes", True), ("enrolled", True), ("No", False), ("Not enrolled", False), ("maybe", None)],
)
def test_booleans(text, value):
    assert parse_boolean(text) is value


def test_label_synonyms():
    amount_due = phrases_for("amount_due")
    for label in ("Amount due", "Total due", "Balance Due:", "Amount payable", "Please pay"):
        assert score(label, amount_due) >= 0.8, label
    assert score("Previous balance", amount_due) < score("Balance due", amount_due)
    account = phrases_for("account_number")
    for label in ("Account No.", "Acct #", "Account number", "ACCOUNT NUMBER"):
        assert score(label, account) >= 0.9, label
    # A label naming another concept does not match by containing a word of this one.
    assert score("Invoice date", phrases_for("invoice_number")) < 0.5
    assert score("Due date", phrases_for("invoice_date")) < 0.5
    assert tokens("Acct. #") == ("account", "number")
