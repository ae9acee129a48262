"""Meaning without a model: words → concepts, and what a page shows → the task's output.

Generic on purpose — no site names, no per-site rules. Text is reduced to *concepts* (lower-case
word stems, multi-word phrases and synonyms folded together: bill/statement/invoice, payslip/pay
stub/earnings statement, reservation/booking/stay …), and two texts are as close as the
concepts they share. The mapper fills an output JSON Schema from a page snapshot
(``tasks/agent/snapshot.js``): scalars from label/value pairs (then from the latest row of a
matching table), arrays of objects from table rows or from repeated cards; values are converted
to the schema's types (money → numbers, dates → ISO 8601). Missing data is null.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from dateutil import parser as date_parser

# Phrases first (longest first), so "pay stub" is a payslip and not a payment.
PHRASES: dict[str, str] = {
    "pay stubs": "payslip",
    "pay stub": "payslip",
    "paystub": "payslip",
    "pay slips": "payslip",
    "pay slip": "payslip",
    "pay statement": "payslip",
    "pay statements": "payslip",
    "earnings statement": "payslip",
    "earnings statements": "payslip",
    "salary slip": "payslip",
    "pay period": "period",
    "pay date": "paydate",
    "payment date": "paydate",
    "paid on": "paydate",
    "date paid": "paydate",
    "check in": "checkin",
    "check-in": "checkin",
    "checkin": "checkin",
    "arrival": "checkin",
    "arrive": "checkin",
    "check out": "checkout",
    "check-out": "checkout",
    "departure": "checkout",
    "depart": "checkout",
    "one-time": "onetime",
    "one time": "onetime",
    "log in": "login",
    "log on": "login",
    "sign in": "login",
    "sign on": "login",
    "log out": "logout",
    "sign out": "logout",
    "amount due": "amountdue",
    "total to pay": "amountdue",
    "amount to pay": "amountdue",
    "total amount due": "amountdue",
    "new balance": "amountdue",
    "pay by": "duedate",
    "payment due date": "duedate",
    "balance due": "amountdue",
    "total due": "amountdue",
    "amount owed": "amountdue",
    "due date": "duedate",
    "payment due": "duedate",
    "due by": "duedate",
    "due on": "duedate",
    "gross pay": "gross",
    "net pay": "net",
    "take home": "net",
    "take-home": "net",
    "e-mail": "email",
    "zip code": "postcode",
    "postal code": "postcode",
    "card number": "cardnumber",
    "security code": "cvv",
    "name on card": "cardholder",
    "name on the card": "cardholder",
    "cardholder name": "cardholder",
    "card holder": "cardholder",
    "credit card": "card",
    "debit card": "card",
    "confirmation number": "confirmation",
    "confirmation code": "confirmation",
    "confirmation no": "confirmation",
    "reference number": "confirmation",
    "reference no": "confirmation",
    "account number": "accountnumber",
    "account no": "accountnumber",
    "account #": "accountnumber",
    "acct #": "accountnumber",
    "acct no": "accountnumber",
    "customer number": "accountnumber",
    "meter number": "meter",
    "meter id": "meter",
    "security question": "securityquestion",
    "statement date": "billdate",
    "bill date": "billdate",
    "invoice date": "billdate",
    "issue date": "billdate",
    "date issued": "billdate",
    "issued on": "billdate",
    "billing period": "period",
    "service period": "period",
    "room type": "room",
}
_PHRASE_RE = re.compile(
    r"(?<![a-z0-9])("
    + "|".join(re.escape(p) for p in sorted(PHRASES, key=len, reverse=True))
    + r")(?![a-z0-9])"
)

# Each group folds to its FIRST word (the concept name the code refers to).
SYNONYMS: list[tuple[str, ...]] = [
    ("bill", "billing", "statement", "invoice", "bills"),
    ("payslip", "payslips", "payroll", "earnings", "salary", "paycheck", "wage"),
    ("reservation", "booking", "stay", "trip", "reservations", "bookings", "stays", "itinerary"),
    ("pay", "payment", "paying", "paid", "payments"),
    ("amount", "total", "sum", "charge", "charges", "cost", "price"),
    ("balance", "owed", "outstanding"),
    ("document", "documents", "pdf", "file", "download", "copy", "csv", "export"),
    ("account", "accounts", "acct"),
    ("number", "no", "num", "id", "identifier", "ref", "reference"),
    ("confirmation", "confirmed", "receipt", "conf", "confirm"),
    ("date", "on", "day", "dated"),
    ("user", "username", "userid", "login", "email", "member", "customer"),
    ("password", "passcode", "passphrase", "pin"),
    ("code", "otp", "onetime", "verification", "token", "authenticator", "2fa", "mfa"),
    ("upcoming", "future", "next", "scheduled", "current", "active"),
    ("past", "previous", "history", "historical", "completed", "archive"),
    ("hotel", "property", "resort", "lodging"),
    ("guest", "guests", "occupants", "people", "persons"),
    ("night", "nights"),
    ("usage", "consumption", "kwh", "therms", "used"),
    ("name", "title", "nickname", "label"),
    ("address", "location", "premise", "premises", "site"),
    ("status", "state"),
    ("method", "source", "instrument"),
    ("employer", "company", "organization"),
    ("deduction", "deductions", "withholding", "tax", "taxes"),
    ("cancel", "cancellation", "cancelled", "canceled"),
    ("latest", "recent", "newest", "last", "current"),
    ("expiry", "expiration", "expires", "exp", "expire"),
    ("cvv", "cvc", "csc", "cvv2"),
]
_CANON: dict[str, str] = {}
for _group in SYNONYMS:
    _head = _group[0]
    for _word in _group:
        _CANON.setdefault(_word, _head)

STOPWORDS = {
    "a", "an", "the", "my", "our", "your", "of", "to", "for", "and", "or", "in", "at", "by",
    "with", "from", "is", "are", "be", "this", "that", "these", "those", "it", "its", "all",
    "each", "every", "get", "fetch", "show", "view", "see", "list", "find", "read", "return",
    "give", "me", "us", "i", "as", "per", "into", "via", "any", "please", "here", "what",
    "which", "when", "was", "were", "will", "has", "have", "had", "do", "does", "if", "than",
    "then", "there", "their", "them", "they", "you", "we", "he", "she", "up", "out", "more",
    "details", "detail", "info", "information", "page", "item", "items", "iso", "8601",
    "format", "string", "value", "e", "g", "eg",
}  # fmt: skip


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def words(text: str, *, fold: bool = True) -> list[str]:
    """Lower-case words, snake_case and camelCase split, phrases folded (unless not)."""
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", text or "")
    text = text.replace("_", " ").lower()
    if fold:
        text = _PHRASE_RE.sub(lambda m: f" {PHRASES[m.group(1)]} ", text)
    return re.findall(r"[a-z0-9#]+", text)


def concepts(text: str, *, fold: bool = True) -> set[str]:
    found = set()
    for word in words(text, fold=fold):
        if word in STOPWORDS:
            continue
        if word == "#":
            word = "number"
        word = _CANON.get(word) or _CANON.get(_stem(word)) or _stem(word)
        found.add(word)
    return found


def closeness(a: set[str], b: set[str]) -> float:
    """Shared concepts over the larger side (1.0: the same meaning)."""
    if not a or not b:
        return 0.0
    return len(a & b) / max(len(a), len(b))


# -- values -----------------------------------------------------------------------------------

_MONEY = re.compile(r"\(?-?\s*[$€£¥]?\s*-?\d[\d,]*(?:\.\d+)?\)?")
_ISO_DAY = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")


def parse_number(text: Any) -> float | None:
    if isinstance(text, bool):
        return None
    if isinstance(text, int | float):
        return float(text)
    if not isinstance(text, str):
        return None
    match = _MONEY.search(text.replace("\u2212", "-"))
    if not match:
        return None
    raw = match.group(0)
    negative = "-" in raw or (raw.startswith("(") and raw.endswith(")")) or " CR" in text
    digits = re.sub(r"[^\d.]", "", raw)
    try:
        value = Decimal(digits)
    except InvalidOperation:
        return None
    number = float(-value if negative else value)
    return number


def parse_date(text: Any) -> str | None:
    """ISO 8601 day for a written date, or None."""
    if not isinstance(text, str) or not re.search(r"\d", text):
        return None
    iso = _ISO_DAY.search(text)
    if iso:
        return iso.group(0)
    # Month-day-year as the web mostly writes it; a range keeps its first date.
    first = re.split(r"\s+(?:-|\u2013|\u2014|to|through|until)\s+", text.strip())[0]
    try:
        parsed = date_parser.parse(first, fuzzy=True, default=datetime(2000, 1, 1))
    except (ValueError, OverflowError):
        return None
    if not re.search(r"\d{4}|\d{1,2}/\d{1,2}/\d{2}", first):
        return None  # no year written: not a date we can state
    return parsed.date().isoformat()


_RANGE_SPLIT = re.compile(r"\s*(?:\u2013|\u2014|\s-\s|\bto\b|\bthrough\b|\buntil\b|\bthru\b)\s*")


def parse_range(text: Any) -> tuple[str, str] | None:
    """Two ISO days from a written period ("Feb 1 \u2013 Feb 28, 2026", "1/1/2026 - 1/31/2026")."""
    if not isinstance(text, str):
        return None
    isos = _ISO_DAY.findall(text)
    if len(isos) >= 2:
        return "-".join(isos[0]), "-".join(isos[1])
    parts = [p for p in _RANGE_SPLIT.split(text.strip(), maxsplit=1) if p]
    if len(parts) != 2:
        return None
    left, right = parts
    end = parse_date(right)
    if end is None:
        return None
    start = parse_date(left)
    if start is None:
        # "Feb 1 \u2013 Feb 28, 2026": the year is written once, at the end.
        start = parse_date(f"{left}, {end[:4]}")
        if start is None:
            return None
        if start > end:  # "Dec 1 \u2013 Jan 5, 2026" spans the new year
            start = parse_date(f"{left}, {int(end[:4]) - 1}")
    if start is None or start > end:
        return None
    return start, end


def _range_fields(schema: Mapping[str, Any]) -> tuple[str, str] | None:
    """The (start, end) property names of an object that is a period of two dates."""
    properties = schema.get("properties") or {}
    dated = [n for n, p in properties.items() if _looks_dated(n, p)]
    if len(dated) != 2:
        return None
    first = next((n for n in dated if re.search(r"start|from|begin|first", n, re.I)), dated[0])
    second = next(n for n in dated if n != first)
    return first, second


def parse_datetime(text: Any) -> str | None:
    if not isinstance(text, str) or not re.search(r"\d", text):
        return None
    try:
        return date_parser.parse(text, fuzzy=True).isoformat()
    except (ValueError, OverflowError):
        return None


def _types(schema: Mapping[str, Any]) -> list[str]:
    kind = schema.get("type")
    if isinstance(kind, list):
        return [str(k) for k in kind]
    if kind:
        return [str(kind)]
    for option in schema.get("anyOf") or schema.get("oneOf") or []:
        if isinstance(option, Mapping) and option.get("type"):
            return _types(option)
    return ["string"]


def nullable(schema: Mapping[str, Any]) -> bool:
    if "null" in _types(schema):
        return True
    return any(
        isinstance(o, Mapping) and o.get("type") == "null"
        for o in (schema.get("anyOf") or schema.get("oneOf") or [])
    )


def _looks_dated(name: str, schema: Mapping[str, Any]) -> bool:
    if schema.get("format") in ("date", "date-time"):
        return True
    text = f"{name} {schema.get('description', '')}".lower()
    c = concepts(name)
    return bool(
        c & {"date", "duedate", "billdate", "paydate", "checkin", "checkout"}
        or re.search(r"(_at|_on)$", name)
        or "iso 8601" in text
    )


def convert(value: Any, schema: Mapping[str, Any], name: str = "") -> Any:
    """``value`` (page text) as the schema's type, or None when it does not fit."""
    if value is None:
        return None
    kinds = [k for k in _types(schema) if k != "null"] or ["string"]
    text = value if isinstance(value, str) else str(value)
    text = text.strip()
    if text in ("", "\u2014", "-", "\u2013", "n/a", "N/A"):
        return None
    if "object" in kinds:
        fields = _range_fields(schema)
        days = parse_range(text) if fields else None
        if fields and days:
            return {fields[0]: days[0], fields[1]: days[1]}
        return None
    enum = schema.get("enum")
    if enum:
        for option in enum:
            if isinstance(option, str) and option.lower() == text.lower():
                return option
        for option in enum:
            if isinstance(option, str) and concepts(option) & concepts(text):
                return option
        return None
    for kind in kinds:
        if kind in ("number", "integer"):
            number = parse_number(text)
            if number is None:
                continue
            if kind == "integer":
                if number != int(number):
                    continue
                return int(number)
            return round(number, 2) if abs(number - round(number, 2)) < 1e-9 else number
        if kind == "boolean":
            lowered = text.lower()
            if lowered in ("yes", "true", "paid", "on", "active", "enabled", "y", "✓"):
                return True
            if lowered in ("no", "false", "unpaid", "off", "inactive", "disabled", "n"):
                return False
            continue
        if kind == "string":
            fmt = schema.get("format")
            if re.search(r"(^|_|\b)units?$", name, re.I):
                # "963 kWh" answers both "usage" (963) and "usage_unit" (kWh).
                unit = re.fullmatch(r"[-+\d.,\s]*([^\d\s].*?)", text)
                if unit:
                    return unit.group(1).strip()
            if fmt == "date-time":
                return parse_datetime(text) or None
            if fmt == "date" or _looks_dated(name, schema):
                day = parse_date(text)
                if day:
                    return day
                if fmt == "date":
                    return None
            return text
    return None


# -- the output mapper ------------------------------------------------------------------------


def property_concepts(name: str, schema: Mapping[str, Any]) -> tuple[set[str], set[str]]:
    return concepts(name), concepts(str(schema.get("description", "")))


def label_score(name: str, schema: Mapping[str, Any], label: str) -> float:
    """How well a page label names a property (0 … ~1.5)."""
    own, described = property_concepts(name, schema)
    seen = concepts(label)
    if not seen:
        return 0.0
    # Phrases folded ("amount due" is one idea), and word by word a little less surely
    # ("Amount" still names amount_due when nothing names it better).
    loose = closeness(concepts(name, fold=False), concepts(label, fold=False))
    score = max(closeness(own, seen), 0.9 * loose)
    if described:
        score += 0.5 * len(described & seen) / len(seen)
    if re.sub(r"[^a-z0-9]", "", name.lower()) == re.sub(r"[^a-z0-9]", "", label.lower()):
        score += 0.5
    return score


THRESHOLD = 0.45


@dataclass
class Found:
    value: Any
    score: float


@dataclass
class Mapping_:
    """The output so far: per property the best value seen and how sure we are."""

    schema: Mapping[str, Any]
    found: dict[str, Found] = field(default_factory=dict)

    def offer(self, name: str, value: Any, score: float) -> None:
        if value is None or value == []:
            return
        current = self.found.get(name)
        if current is None or score >= current.score:
            self.found[name] = Found(value, score)

    def output(self) -> dict[str, Any]:
        properties = self.schema.get("properties") or {}
        required = set(self.schema.get("required") or [])
        out: dict[str, Any] = {}
        for name, prop in properties.items():
            if name in self.found:
                out[name] = self.found[name].value
            elif "array" in _types(prop) and not nullable(prop):
                out[name] = []
            elif nullable(prop) or name in required:
                out[name] = None
            # An optional property that cannot be null is left out rather than made invalid.
        return out

    def missing(self) -> list[str]:
        return [name for name in (self.schema.get("properties") or {}) if name not in self.found]


def _best_label(
    name: str, schema: Mapping[str, Any], pairs: Iterable[Mapping[str, Any]]
) -> tuple[Any, float]:
    best: tuple[Any, float] = (None, 0.0)
    for pair in pairs:
        score = label_score(name, schema, str(pair.get("label", "")))
        if score < THRESHOLD or score <= best[1]:
            continue
        value = convert(pair.get("value"), schema, name)
        if value is not None:
            best = (value, score)
    return best


def _column_map(item_schema: Mapping[str, Any], headers: list[str]) -> dict[str, tuple[int, float]]:
    """Item property → (column index, score), each column used once, best matches first."""
    properties = item_schema.get("properties") or {}
    scored = sorted(
        (
            (label_score(name, prop, header), name, index)
            for name, prop in properties.items()
            for index, header in enumerate(headers)
        ),
        reverse=True,
    )
    chosen: dict[str, tuple[int, float]] = {}
    used: set[int] = set()
    for score, name, index in scored:
        if score < THRESHOLD or name in chosen or index in used:
            continue
        chosen[name] = (index, score)
        used.add(index)
    return chosen


def table_rows(
    item_schema: Mapping[str, Any], table: Mapping[str, Any]
) -> tuple[list[dict[str, Any]], float]:
    """A table's rows as objects of ``item_schema`` and how much of it the columns cover."""
    headers = list(table.get("headers") or [])
    columns = _column_map(item_schema, headers)
    properties = item_schema.get("properties") or {}
    if not columns:
        return [], 0.0
    rows = []
    for row in table.get("rows") or []:
        cells = row.get("cells") or []
        if len(cells) < len(headers) // 2:
            continue  # a spanning note row
        item: dict[str, Any] = {}
        for name, prop in properties.items():
            if name in columns and columns[name][0] < len(cells):
                item[name] = convert(cells[columns[name][0]], prop, name)
            elif nullable(prop) or name in (item_schema.get("required") or []):
                item[name] = None
        if any(value is not None for value in item.values()):
            rows.append(item)
    coverage = sum(score for _, score in columns.values()) / max(len(properties), 1)
    return rows, coverage


def card_rows(
    item_schema: Mapping[str, Any], pairs: list[Mapping[str, Any]]
) -> tuple[list[dict[str, Any]], float]:
    """Repeated cards (label/value pairs grouped by their card) as objects."""
    cards: dict[Any, list[Mapping[str, Any]]] = {}
    for pair in pairs:
        if pair.get("card"):
            cards.setdefault(pair["card"], []).append(pair)
    properties = item_schema.get("properties") or {}
    rows: list[dict[str, Any]] = []
    total = 0.0
    for card_pairs in cards.values():
        heading = str(card_pairs[0].get("group") or "")
        item: dict[str, Any] = {}
        matched = 0.0
        for name, prop in properties.items():
            value, score = _best_label(name, prop, card_pairs)
            if value is None and heading and concepts(name) & {"name", "hotel", "title"}:
                value, score = convert(heading, prop, name), THRESHOLD
            if value is not None:
                item[name] = value
                matched += score
            elif nullable(prop) or name in (item_schema.get("required") or []):
                item[name] = None
        if matched:
            rows.append(item)
            total += matched
    if not rows:
        return [], 0.0
    return rows, total / len(rows) / max(len(properties), 1)


_STARTS = re.compile(r"\b(from|start|starts|started|begin|begins|beginning|since)\b", re.I)
_ENDS = re.compile(r"\b(to|end|ends|ended|ending|through|thru|until)\b", re.I)


def _split_period(
    name: str, schema: Mapping[str, Any], pairs: Iterable[Mapping[str, Any]]
) -> tuple[Any, float]:
    """A period written as two labelled dates ("Service from" / "Service to")."""
    fields = _range_fields(schema)
    if not fields:
        return None, 0.0
    own = concepts(name) | concepts(name, fold=False)
    best: dict[str, tuple[str, float]] = {}
    for pair in pairs:
        label = str(pair.get("label", ""))
        day = parse_date(str(pair.get("value", "")))
        if not day:
            continue
        related = closeness(own, concepts(label) | concepts(label, fold=False))
        for field_name, pattern in zip(fields, (_STARTS, _ENDS), strict=True):
            if pattern.search(label) and related >= best.get(field_name, ("", -1.0))[1]:
                best[field_name] = (day, related)
    if len(best) != 2 or best[fields[0]][0] > best[fields[1]][0]:
        return None, 0.0
    return {f: best[f][0] for f in fields}, THRESHOLD


def _dated_column(table: Mapping[str, Any]) -> int | None:
    for index, header in enumerate(table.get("headers") or []):
        if concepts(header) & {"date", "billdate", "paydate", "duedate", "period"}:
            return index
    return None


def latest_row(table: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The newest row by its date column (the first row when there is none)."""
    rows = [r for r in table.get("rows") or [] if r.get("cells")]
    if not rows:
        return None
    column = _dated_column(table)
    if column is None:
        return rows[0]

    def when(row: Mapping[str, Any]) -> str:
        cells = row["cells"]
        return (parse_date(cells[column]) if column < len(cells) else None) or ""

    return max(rows, key=when)


def map_snapshot(
    schema: Mapping[str, Any],
    snapshot: Mapping[str, Any],
    result: Mapping_,
    *,
    goal: set[str],
    extra_tables: Sequence[Mapping[str, Any]] | None = None,
) -> None:
    """Offer everything this page says about the output to ``result``."""
    properties = schema.get("properties") or {}
    pairs = list(snapshot.get("pairs") or [])
    tables = list(snapshot.get("tables") or []) + list(extra_tables or [])
    for name, prop in properties.items():
        kinds = _types(prop)
        if "array" in kinds:
            items = prop.get("items") or {}
            if "object" not in _types(items):
                continue
            best: tuple[list[dict[str, Any]], float] = ([], 0.0)
            for table in tables:
                rows, coverage = table_rows(items, table)
                context = concepts(f"{table.get('caption', '')} {table.get('heading', '')}")
                own = concepts(name) | concepts(str(prop.get("description", "")))
                coverage += 0.3 * len(context & (own | goal)) / max(len(context), 1)
                if rows and coverage > best[1]:
                    best = (rows, coverage)
            rows, coverage = card_rows(items, pairs)
            if rows and coverage > best[1]:
                best = (rows, coverage)
            if best[0] and best[1] >= 0.25:
                result.offer(name, best[0], best[1])
            continue
        if "object" in kinds and not _range_fields(prop):
            continue
        value, score = _best_label(name, prop, pairs)
        if value is None and "object" in kinds:
            value, score = _split_period(name, prop, pairs)
        if value is not None:
            result.offer(name, value, score)
            continue
        # No label says it: the latest row of a table whose column does.
        for table in tables:
            headers = list(table.get("headers") or [])
            row = latest_row(table)
            if not row:
                continue
            for index, header in enumerate(headers):
                score = label_score(name, prop, header)
                if score >= THRESHOLD and index < len(row["cells"]):
                    converted = convert(row["cells"][index], prop, name)
                    if converted is not None:
                        # Slightly less sure than a labelled value on the page.
                        result.offer(name, converted, score * 0.8)
    # A confirmation/reference number written in running text.
    for name, prop in properties.items():
        if name in result.found or not (concepts(name) & {"confirmation"}):
            continue
        match = re.search(
            r"(?:confirmation|reference|receipt)\s*(?:number|no\.?|code|#|id)?\s*[:#]?\s*"
            r"([A-Z0-9][A-Z0-9-]{3,})",
            str(snapshot.get("text") or ""),
            re.IGNORECASE,
        )
        if match:
            result.offer(name, convert(match.group(1), prop, name), 0.6)


def today_iso() -> str:
    return date.today().isoformat()
