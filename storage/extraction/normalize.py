"""Values as printed on documents → JSON values: ISO dates, numbers, ISO currency codes.

Every parser takes the text around a value and returns ``None`` when it finds nothing, so the
caller can move on to the next candidate. Locale decisions (day-first dates, decimal commas)
come from a :class:`Locale` computed once per document, never guessed per value.
"""

from __future__ import annotations

import datetime
import itertools
import re
from dataclasses import dataclass
from functools import lru_cache

MONTHS: dict[str, int] = {}
for _number, _names in enumerate(
    [
        "january jan janvier janv enero ene januar jän gennaio genn januari",
        "february feb février fevrier févr fev febrero februar febbraio februari",
        "march mar mars marzo märz maerz maart",
        "april apr avril avr abril aprile",
        "may mai mayo maggio mei",
        "june jun juin junio juni giugno",
        "july jul juillet juil julio juli luglio",
        "august aug août aout agosto augustus",
        "september sep sept septembre septiembre settembre",
        "october oct octobre octubre oktober ottobre okt",
        "november nov novembre noviembre",
        "december dec décembre decembre déc diciembre dezember dicembre dez",
    ],
    start=1,
):
    for _name in _names.split():
        MONTHS[_name] = _number

_MONTH = "|".join(sorted((re.escape(name) for name in MONTHS), key=len, reverse=True))
_YEAR = r"(?:19|20)\d{2}"
_ORD = r"(?:st|nd|rd|th|er|º|\.)?"

# Order matters: the first pattern matching at a position wins.
_DATE_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("ymd", re.compile(rf"(?<![\d.])({_YEAR})[-/.](\d{{1,2}})[-/.](\d{{1,2}})(?![\d])")),
    (
        "numeric",
        re.compile(r"(?<![\d./-])(\d{1,2})([/.-])(\d{1,2})\2((?:19|20)?\d{2})(?![\d/]|\.\d)"),
    ),
    (
        "mdy",
        re.compile(
            rf"(?<![A-Za-z])({_MONTH})\.?\s+(\d{{1,2}}){_ORD}(?:,?\s*({_YEAR}))?(?![\d])",
            re.IGNORECASE,
        ),
    ),
    (
        "dmy",
        re.compile(
            rf"(?<![\d])(\d{{1,2}}){_ORD}\s*(?:of\s+|de\s+)?[\s-]?({_MONTH})\.?(?![A-Za-z])"
            rf"(?:[\s,-]*(?:de\s+)?({_YEAR}|\d{{2}}(?![\d])))?",
            re.IGNORECASE,
        ),
    ),
    ("my", re.compile(rf"(?<![A-Za-z])({_MONTH})\.?,?\s+({_YEAR})(?![\d])", re.IGNORECASE)),
]

CURRENCY_SYMBOLS = {
    "US$": "USD",
    "C$": "CAD",
    "CA$": "CAD",
    "A$": "AUD",
    "AU$": "AUD",
    "NZ$": "NZD",
    "HK$": "HKD",
    "S$": "SGD",
    "MX$": "MXN",
    "R$": "BRL",
    "$": "USD",
    "€": "EUR",
    "£": "GBP",
    "¥": "JPY",
    "₹": "INR",
    "₩": "KRW",
    "₽": "RUB",
    "₺": "TRY",
    "₪": "ILS",
    "CHF": "CHF",
    "Fr.": "CHF",
    "kr": "SEK",
    "zł": "PLN",
}
CURRENCY_CODES = frozenset(
    [
        "USD",
        "EUR",
        "GBP",
        "JPY",
        "CAD",
        "AUD",
        "NZD",
        "CHF",
        "SEK",
        "NOK",
        "DKK",
        "PLN",
        "CZK",
        "HUF",
        "INR",
        "CNY",
        "HKD",
        "SGD",
        "MXN",
        "BRL",
        "ZAR",
        "KRW",
        "RUB",
        "TRY",
        "ILS",
        "AED",
        "SAR",
    ]
)
CURRENCY_NAMES = {
    "dollar": "USD",
    "dollars": "USD",
    "euro": "EUR",
    "euros": "EUR",
    "pound": "GBP",
    "pounds": "GBP",
    "sterling": "GBP",
    "yen": "JPY",
}
_SYMBOL = "|".join(re.escape(symbol) for symbol in sorted(CURRENCY_SYMBOLS, key=len, reverse=True))
_CODE = "|".join(sorted(CURRENCY_CODES))
# A number with optional grouping; the decimal separator is decided later from the Locale.
_NUMBER = r"\d{1,3}(?:[,.' \u00a0\u202f]\d{3})+(?:[.,]\d+)?|\d+(?:[.,]\d+)?"
_AMOUNT = re.compile(
    rf"(?P<neg1>[-\u2212\u2013]\s?|\()?"
    rf"(?:(?P<pre>{_SYMBOL}|\b(?:{_CODE})\b)\s?)?"
    rf"(?P<neg2>[-\u2212]\s?|\()?"
    rf"(?<![\d.,])(?P<num>{_NUMBER})(?![\d])"
    rf"(?:\s?(?P<post>{_SYMBOL}|\b(?:{_CODE})\b))?"
    rf"(?P<close>\))?(?P<trail>-|\s?CR\b)?"
)


@dataclass(frozen=True)
class Locale:
    """How one document writes numbers and dates.

    ``day_first``: 05/01/2026 is 5 January. ``decimal_comma``: 1.234,56 is one thousand and
    something. Both are decided per document from unambiguous evidence (see ``locale_of``).
    """

    day_first: bool = False
    decimal_comma: bool = False
    currency: str | None = None


US = Locale()


def locale_of(text: str) -> Locale:
    """The document's conventions, from the evidence in its whole text.

    Dates: any numeric date whose first part is above 12 (31/01/2026) or written with dots
    (05.01.2026) votes day-first; any whose second part is above 12 (01/31/2026) votes
    month-first. Without evidence either way, a document whose amounts use decimal commas or
    whose money is in euros or pounds is read day-first, anything else month-first (US).
    Numbers: 1.234,56 and 12,50 vote decimal comma; 1,234.56 and 12.50 vote decimal point.
    """
    day_votes = month_votes = 0
    for match in _DATE_PATTERNS[1][1].finditer(text):
        first, sep, second = int(match.group(1)), match.group(2), int(match.group(3))
        if first > 12 >= second or sep == ".":
            day_votes += 1
        elif second > 12 >= first:
            month_votes += 1
    comma = len(re.findall(r"\d\.\d{3},\d{2}(?!\d)", text)) * 3
    comma += len(re.findall(r"(?<![\d.,])\d{1,3},\d{2}(?![\d.,])", text))
    point = len(re.findall(r"\d,\d{3}\.\d{2}(?!\d)", text)) * 3
    point += len(re.findall(r"(?<![\d.,])\d{1,3}\.\d{2}(?![\d.,])", text))
    decimal_comma = comma > point
    currency = currency_in(text, most_common=True)
    if day_votes != month_votes:
        day_first = day_votes > month_votes
    else:
        day_first = decimal_comma or currency in {"EUR", "GBP"}
    return Locale(day_first=day_first, decimal_comma=decimal_comma, currency=currency)


def _year(text: str | None) -> int | None:
    if not text:
        return None
    year = int(text)
    if year < 100:
        year += 2000 if year < 70 else 1900
    return year


def _make_date(year: int | None, month: int, day: int) -> datetime.date | None:
    if year is None:
        return None
    try:
        return datetime.date(year, month, day)
    except ValueError:
        return None


@dataclass(frozen=True)
class FoundDate:
    value: datetime.date | None  # None when the year is missing (borrowed by ranges)
    month: int
    day: int
    start: int
    end: int


@lru_cache(maxsize=65536)
def find_dates(text: str, locale: Locale = US) -> tuple[FoundDate, ...]:
    """Every date written in ``text``, in order, without overlaps."""
    if not any(char.isdigit() for char in text):
        return ()  # every date form has a day or a year in digits
    found: list[FoundDate] = []
    taken: list[tuple[int, int]] = []
    for kind, pattern in _DATE_PATTERNS:
        for match in pattern.finditer(text):
            start, end = match.span()
            if any(start < t_end and end > t_start for t_start, t_end in taken):
                continue
            year: int | None
            if kind == "ymd":
                year, month, day = int(match.group(1)), int(match.group(2)), int(match.group(3))
            elif kind == "numeric":
                first, second = int(match.group(1)), int(match.group(3))
                year = _year(match.group(4))
                if first > 12 >= second:
                    day, month = first, second
                elif second > 12 >= first:
                    month, day = first, second
                elif locale.day_first or match.group(2) == ".":
                    day, month = first, second
                else:
                    month, day = first, second
            elif kind == "mdy":
                month, day = MONTHS[match.group(1).lower()], int(match.group(2))
                year = _year(match.group(3))
            elif kind == "dmy":
                day, month = int(match.group(1)), MONTHS[match.group(2).lower()]
                year = _year(match.group(3))
            else:  # "my": a month and a year only → the first of the month
                month, day, year = MONTHS[match.group(1).lower()], 1, int(match.group(2))
            if not (1 <= month <= 12 and 1 <= day <= 31):
                continue
            value = _make_date(year, month, day)
            if year is not None and value is None:
                continue
            found.append(FoundDate(value, month, day, start, end))
            taken.append((start, end))
    found.sort(key=lambda item: item.start)
    return tuple(found)


def parse_date(text: str, locale: Locale = US) -> tuple[datetime.date, int, int] | None:
    """The first complete date in ``text`` with its span."""
    for item in find_dates(text, locale):
        if item.value is not None:
            return item.value, item.start, item.end
    return None


def parse_date_range(
    text: str, locale: Locale = US
) -> tuple[datetime.date, datetime.date, int, int] | None:
    """Two dates written as a period: "Jan 5 - Feb 4, 2026", "12/18/2024 to 01/20/2025".

    A first date without a year borrows the second's (the year before if its month is later).
    """
    dates = find_dates(text, locale)
    for first, second in itertools.pairwise(dates):
        between = text[first.end : second.start]
        if not re.fullmatch(
            r"\s*(?:[-\u2013\u2014~]|to|through|thru|until|till|bis|au|al|-)?\s*", between, re.I
        ):
            continue
        end = second.value
        if end is None:
            continue
        start = first.value
        if start is None:
            year = end.year - 1 if first.month > end.month else end.year
            start = _make_date(year, first.month, first.day)
        if start is not None and start <= end:
            return start, end, first.start, second.end
    return None


def _to_float(number: str, locale: Locale) -> float | None:
    digits = re.sub(r"[ '\u00a0\u202f]", "", number)
    if "," in digits and "." in digits:
        decimal = "," if digits.rfind(",") > digits.rfind(".") else "."
    elif "," in digits or "." in digits:
        sep = "," if "," in digits else "."
        parts = digits.split(sep)
        if len(parts) > 2:
            decimal = ""  # 1,234,567 or 1.234.567: grouping only
        elif len(parts[1]) != 3:
            decimal = sep  # 12,5 / 12,50 / 12.5 / 12.50
        else:
            # 1,234 or 1.234: grouping unless the document writes decimals this way.
            decimal = sep if (sep == ",") == locale.decimal_comma and len(parts[0]) > 3 else ""
            if parts[0] == "0":
                decimal = sep
    else:
        decimal = ""
    if decimal:
        group = "." if decimal == "," else ","
        digits = digits.replace(group, "").replace(decimal, ".")
    else:
        digits = digits.replace(",", "").replace(".", "")
    try:
        return float(digits)
    except ValueError:
        return None


@dataclass(frozen=True)
class FoundAmount:
    value: float
    currency: str | None
    start: int
    end: int
    has_decimals: bool


@lru_cache(maxsize=65536)
def find_amounts(text: str, locale: Locale = US) -> tuple[FoundAmount, ...]:
    """Every number in ``text`` read as money: signs, parentheses, symbols and codes."""
    if not any(char.isdigit() for char in text):
        return ()
    amounts: list[FoundAmount] = []
    for match in _AMOUNT.finditer(text):
        value = _to_float(match.group("num"), locale)
        if value is None:
            continue
        negative = bool(
            (match.group("neg1") or "").strip() in {"-", "\u2212", "\u2013"}
            or (match.group("neg2") or "").strip() in {"-", "\u2212"}
            or match.group("trail")
            or (
                ("(" in (match.group("neg1") or "") or "(" in (match.group("neg2") or ""))
                and match.group("close")
            )
        )
        marker = match.group("pre") or match.group("post")
        currency = None
        if marker:
            currency = CURRENCY_SYMBOLS.get(marker) or (
                marker if marker in CURRENCY_CODES else None
            )
            if marker == "$" and locale.currency not in {None, "EUR", "GBP", "USD"}:
                currency = locale.currency if "$" in _symbols_of(locale.currency) else "USD"
        number = match.group("num")
        has_decimals = bool(re.search(r"[.,]\d{1,2}$", number))
        amounts.append(
            FoundAmount(-value if negative else value, currency, *match.span(), has_decimals)
        )
    return tuple(amounts)


def _symbols_of(code: str | None) -> list[str]:
    return [symbol for symbol, value in CURRENCY_SYMBOLS.items() if value == code]


def parse_amount(text: str, locale: Locale = US) -> FoundAmount | None:
    """The amount a value cell or label remainder shows.

    Prefers money-looking numbers (a currency marker or two decimals) over bare integers, so
    "Invoice 1042 total $84.12" gives 84.12; a date inside the text is never read as a number.
    """
    dates = [(d.start, d.end) for d in find_dates(text, locale)]
    amounts = [
        amount
        for amount in find_amounts(text, locale)
        if not any(amount.start < end and amount.end > start for start, end in dates)
    ]
    if not amounts:
        return None
    for amount in amounts:
        if amount.currency or amount.has_decimals:
            return amount
    return amounts[0]


def currency_in(text: str, *, most_common: bool = False) -> str | None:
    """The ISO code the text shows: a code (USD 12), a symbol ($ → USD) or a name (euros)."""
    counts: dict[str, int] = {}
    order: list[str] = []
    for match in re.finditer(rf"\b({_CODE})\b|({_SYMBOL})", text):
        code = match.group(1) or CURRENCY_SYMBOLS.get(match.group(2) or "")
        if match.group(2) in {"kr", "Fr."}:
            # Too common inside words; only trusted next to a number.
            around = text[max(0, match.start() - 2) : match.end() + 2]
            if not re.search(r"\d", around):
                continue
        if not code:
            continue
        # An explicit code beats a "$" when both appear (a Canadian bill: "CAD", "$12.00").
        weight = 3 if match.group(1) else 1
        counts[code] = counts.get(code, 0) + weight
        order.append(code)
    if not counts:
        lowered = text.lower()
        for name, code in CURRENCY_NAMES.items():
            if re.search(rf"\b{name}\b", lowered):
                return code
        return None
    if not most_common:
        return order[0]
    if "USD" in counts and len(counts) > 1:
        # "$" defaults to USD only when no other dollar currency is named.
        dollar = [code for code in counts if code != "USD" and "$" in "".join(_symbols_of(code))]
        if dollar:
            counts[dollar[0]] += counts.pop("USD")
    return max(counts, key=lambda code: counts[code])


TRUE_WORDS = frozenset(
    [
        "yes",
        "y",
        "true",
        "t",
        "paid",
        "enrolled",
        "on",
        "enabled",
        "active",
        "x",
        "✓",
        "✔",
        "checked",
        "autopay",
        "oui",
        "ja",
        "si",
        "sí",
    ]
)
FALSE_WORDS = frozenset(
    ["no", "n", "false", "f", "unpaid", "off", "disabled", "inactive", "none", "non", "nein"]
)


def parse_boolean(text: str) -> bool | None:
    words = re.findall(r"[\w✓✔]+", text.lower())
    if not words:
        return None
    if words[0] in TRUE_WORDS:
        return True
    if words[0] in FALSE_WORDS or "not" in words[:2]:
        return False
    return None


def iso_date(value: datetime.date) -> str:
    return value.isoformat()
