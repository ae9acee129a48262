"""Schema-guided, rule-based extraction over the common document model.

For each schema property: score every key/value candidate's label against the field's phrases
(name, parent, description, synonyms), take the best-scoring candidate whose value converts to
the property's type, and record where it came from. Nested objects recurse (periods and
addresses get dedicated readers); arrays of objects come from the table whose header columns
best match the item properties. Nothing found → None.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from jsonschema.validators import validator_for

from storage.extraction.document import Cell, Document, KeyValue, Line, Table, is_label
from storage.extraction.labels import (
    ROLE_WORDS,
    Phrase,
    name_phrase,
    names_other_concept,
    phrases_for,
    score,
    tokens,
)
from storage.extraction.normalize import (
    CURRENCY_CODES,
    Locale,
    currency_in,
    find_amounts,
    find_dates,
    parse_amount,
    parse_boolean,
    parse_date,
    parse_date_range,
)

THRESHOLD = 0.5
_KIND_RANK = {"markup": 0, "inline": 0, "column": 1, "below": 2, "text": 3}
_START_WORDS = frozenset({"start", "begin", "beginning", "from", "first"})
_END_WORDS = frozenset({"end", "to", "through", "until", "last", "ending"})
_DOCUMENT_TITLES = frozenset(
    [
        "invoice",
        "tax",
        "invoice",
        "bill",
        "statement",
        "receipt",
        "sales",
        "receipt",
        "utility",
        "bill",
        "credit",
        "note",
        "quote",
        "estimate",
        "page",
        "rechnung",
        "facture",
        "factura",
    ]
)
_TOTAL_ROW = re.compile(
    r"^\s*(sub\s?-?total|total|grand total|tax|sales tax|vat|amount due|balance|balance due|"
    r"discount|shipping|tip|net|gross|mwst|ust|tva|summe|gesamt|gesamtbetrag|totale|"
    r"montant total|total ttc|total ht)\b",
    re.I,
)
ADDRESS_KEYS = {
    "street": ("street", "address line 1", "line1", "address1", "street address"),
    "city": ("city", "town", "locality"),
    "state": ("state", "province", "region"),
    "postal_code": ("postal code", "zip", "postal", "zip code", "postcode"),
    "country": ("country",),
}


Provenance = dict[str, dict[str, Any]]


@dataclass
class Found:
    value: Any
    page: int
    line: str
    start: int
    end: int
    derived: bool = False

    def provenance(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "page": self.page,
            "text": self.line,
            "span": [self.start, self.end],
        }
        if self.derived:
            record["derived"] = True
        return record


@dataclass
class Hints:
    """What the extraction prompt says: the document's conventions, and printed labels.

    A sentence naming a field and quoting text ('amount_due is labelled "Montant TTC"',
    'the account number appears as "Contrat n°"') adds the quoted text as a label of that
    field.
    """

    day_first: bool | None = None
    currency: str | None = None
    labels: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def from_prompt(cls, prompt: str, schema: dict[str, Any] | None = None) -> Hints:
        lowered = prompt.lower()
        labels: dict[str, list[str]] = {}
        names = _field_names(schema or {})
        for sentence in re.split(r"(?<=[.;!?])\s+|\n", prompt):
            quoted = re.findall(
                r"[\"\u201c\u00ab]([^\"\u201d\u00bb]{1,60})[\"\u201d\u00bb]", sentence
            )
            if not quoted:
                continue
            words = tokens(sentence)
            for name in names:
                phrase = name_phrase(name)
                if name in sentence or (
                    phrase and any(words[i : i + len(phrase)] == phrase for i in range(len(words)))
                ):
                    labels.setdefault(name, []).extend(quoted)
        day_first: bool | None = None
        if re.search(r"day[- ]first|dd[/.-]mm|european (?:date|format)|d/m/y", lowered):
            day_first = True
        elif re.search(r"month[- ]first|mm[/.-]dd|us (?:date|format)|american|m/d/y", lowered):
            day_first = False
        codes = [code for code in re.findall(r"\b[A-Z]{3}\b", prompt) if code in CURRENCY_CODES]
        return cls(day_first=day_first, currency=codes[0] if codes else None, labels=labels)


def _field_names(schema: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for name, prop in (schema.get("properties") or {}).items():
        names.add(name)
        if isinstance(prop, dict):
            names |= _field_names(prop)
            if isinstance(prop.get("items"), dict):
                names |= _field_names(prop["items"])
    return names


# --- Schema reading -------------------------------------------------------------------------


def schema_type(prop: dict[str, Any]) -> str:
    declared = prop.get("type")
    if isinstance(declared, list):
        declared = next((kind for kind in declared if kind != "null"), None)
    if isinstance(declared, str):
        return declared
    for key in ("anyOf", "oneOf", "allOf"):
        for branch in prop.get(key) or []:
            if isinstance(branch, dict) and schema_type(branch) != "null":
                return schema_type(branch)
    if "properties" in prop:
        return "object"
    if "items" in prop:
        return "array"
    if prop.get("enum"):
        sample = next((value for value in prop["enum"] if value is not None), "")
        return {bool: "boolean", int: "integer", float: "number"}.get(type(sample), "string")
    if "const" in prop:
        return "string"
    return "string"


def _branch(prop: dict[str, Any]) -> dict[str, Any]:
    """The subschema that describes the value (the non-null branch of an anyOf/oneOf)."""
    for key in ("anyOf", "oneOf"):
        for branch in prop.get(key) or []:
            if isinstance(branch, dict) and schema_type(branch) != "null":
                return {**prop, **branch}
    return prop


def _is_date_field(name: str, prop: dict[str, Any]) -> bool:
    if prop.get("format") == "date":
        return True
    if prop.get("format"):
        return False
    words = name_phrase(name)
    description = str(prop.get("description", ""))
    return bool(
        (words and words[-1] in {"date", "day"} and "days" not in words)
        or re.search(r"yyyy-mm-dd|iso ?8601 date|\bdate\b.*\(iso", description, re.I)
        or (words and words[-1] in _START_WORDS | _END_WORDS and "period" in words)
    )


def _role(name: str) -> str | None:
    words = set(name_phrase(name))
    if words & _START_WORDS:
        return "start"
    if words & _END_WORDS:
        return "end"
    return None


# --- Converting candidate text to the property's type -----------------------------------------


class Converter:
    def __init__(self, locale: Locale, hints: Hints) -> None:
        self.locale = locale
        self.hints = hints

    def convert(self, name: str, prop: dict[str, Any], text: str) -> tuple[Any, int, int] | None:
        """The value in ``text`` for the property, with its span inside ``text``."""
        text = text.strip()
        if not text:
            return None
        kind = schema_type(prop)
        enum = prop.get("enum")
        if enum:
            return self._enum(enum, text)
        if kind == "string" and prop.get("format") == "date-time":
            return self._datetime(text)
        if kind == "string" and _is_date_field(name, prop):
            return self._date(name, text)
        if kind == "string" and _is_currency_field(name, prop):
            code = _currency_code(text)
            return (code, 0, len(text)) if code else None
        if kind in {"number", "integer"}:
            return self._number(kind, text)
        if kind == "boolean":
            flag = parse_boolean(text)
            return None if flag is None else (flag, 0, len(text))
        if kind == "string":
            cleaned = text.strip(" :-\u2013\u2014|").strip()
            if not cleaned:
                return None
            offset = text.index(cleaned)
            return cleaned, offset, offset + len(cleaned)
        return None

    def _enum(self, enum: list[Any], text: str) -> tuple[Any, int, int] | None:
        lowered = text.lower()
        for option in sorted(
            (value for value in enum if value is not None), key=lambda value: -len(str(value))
        ):
            match = re.search(rf"\b{re.escape(str(option).lower())}\b", lowered)
            if match:
                return option, match.start(), match.end()
        return None

    def _date(self, name: str, text: str) -> tuple[Any, int, int] | None:
        role = _role(name)
        period = parse_date_range(text, self.locale)
        if period is not None and role is not None:
            start, end, span_start, span_end = period
            return ((start if role == "start" else end).isoformat(), span_start, span_end)
        found = parse_date(text, self.locale)
        if found is None:
            return None
        value, span_start, span_end = found
        return value.isoformat(), span_start, span_end

    def _datetime(self, text: str) -> tuple[Any, int, int] | None:
        found = parse_date(text, self.locale)
        if found is None:
            return None
        value, span_start, span_end = found
        clock = re.search(r"(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([ap]\.?m\.?)?", text[span_end:], re.I)
        hour = minute = second = 0
        if clock:
            hour, minute = int(clock.group(1)), int(clock.group(2))
            second = int(clock.group(3) or 0)
            meridiem = (clock.group(4) or "").lower().replace(".", "")
            if meridiem == "pm" and hour < 12:
                hour += 12
            elif meridiem == "am" and hour == 12:
                hour = 0
            span_end += clock.end()
        try:
            moment = datetime.datetime.combine(value, datetime.time(hour, minute, second))
        except ValueError:
            moment = datetime.datetime.combine(value, datetime.time())
        return moment.isoformat(), span_start, span_end

    def _number(self, kind: str, text: str) -> tuple[Any, int, int] | None:
        amount = parse_amount(text, self.locale)
        if amount is None:
            return None
        if kind == "integer":
            if not float(amount.value).is_integer():
                return None
            return int(amount.value), amount.start, amount.end
        return round(amount.value, 6), amount.start, amount.end


def _is_currency_field(name: str, prop: dict[str, Any]) -> bool:
    words = name_phrase(name)
    return "currency" in words or prop.get("format") in {"currency", "iso-4217"}


def _currency_code(text: str) -> str | None:
    stripped = text.strip().upper()
    if stripped in CURRENCY_CODES:
        return stripped
    return currency_in(text)


# --- The filler -----------------------------------------------------------------------------


class Filler:
    def __init__(self, document: Document, hints: Hints) -> None:
        locale = document.locale
        if hints.day_first is not None or (hints.currency and not locale.currency):
            locale = Locale(
                day_first=locale.day_first if hints.day_first is None else hints.day_first,
                decimal_comma=locale.decimal_comma,
                currency=locale.currency or hints.currency,
            )
            document.locale = locale
        self.document = document
        self.hints = hints
        self.converter = Converter(locale, hints)
        self.provenance: Provenance = {}
        self.currencies: list[str] = []
        self._tokens: list[list[tuple[str, int]]] | None = None
        self._min_score = THRESHOLD
        # Table header cells start "below" candidates, and table body cells "column"
        # candidates, that are really table rows, not labelled values.
        # A header over a single row is the "labels above values" layout, not a table.
        self._header_starts = {
            cell.start for table in document.tables if len(table.rows) > 1 for cell in table.header
        }
        # Two-column "tables" are usually label/value lists (Field, Value), so only wider
        # tables lose their rows as candidates.
        self._body_starts = {
            cell.start
            for table in document.tables
            if len(table.header) > 2
            for row in table.rows
            for cell in row
            if cell
        }

    # Entry point.
    def fill(self, schema: dict[str, Any]) -> dict[str, Any]:
        return self._object("", schema, (), ())

    def _path(self, path: tuple[str, ...]) -> str:
        return "/".join(path)

    def _record(self, path: tuple[str, ...], found: Found) -> Any:
        self.provenance[self._path(path)] = found.provenance()
        return found.value

    def value(
        self, name: str, prop: dict[str, Any], path: tuple[str, ...], parents: tuple[str, ...]
    ) -> Any:
        prop = _branch(prop)
        kind = schema_type(prop)
        if kind == "object":
            return self._object(name, prop, path, parents)
        if kind == "array":
            return self._array(name, prop, path, parents)
        found = self.scalar(name, prop, parents)
        if found is None:
            return None
        return self._record(path, found)

    # Scalars.
    def _phrases(self, name: str, prop: dict[str, Any], parents: tuple[str, ...]) -> list[Phrase]:
        phrases = phrases_for(name, str(prop.get("description") or ""), parents)
        extra = [Phrase(tokens(label), 1.0) for label in self.hints.labels.get(name, [])]
        return phrases + [phrase for phrase in extra if phrase.words]

    def candidates(self, phrases: list[Phrase]) -> Iterator[tuple[float, KeyValue]]:
        scored = []
        for key_value in self.document.key_values:
            if key_value.kind == "below" and key_value.label_start in self._header_starts:
                continue
            if key_value.kind == "column" and key_value.label_start in self._body_starts:
                continue
            value = score(key_value.label, phrases)
            if value >= self._min_score:
                scored.append((value, key_value))
        scored.sort(key=lambda item: (-round(item[0], 3), _KIND_RANK[item[1].kind], item[1].order))
        yield from scored

    def scalar(self, name: str, prop: dict[str, Any], parents: tuple[str, ...]) -> Found | None:
        phrases = self._phrases(name, prop, parents)
        special = self._special(name, prop, phrases)
        if special is not None:
            return special
        for _, key_value in self.candidates(phrases):
            found = self._convert(name, prop, key_value.value, key_value)
            if found is not None:
                return found
        found = self._in_running_text(name, prop, phrases)
        if found is not None:
            return found
        return self._fallback(name, prop, phrases)

    def _convert(
        self, name: str, prop: dict[str, Any], text: str, key_value: KeyValue
    ) -> Found | None:
        converted = self.converter.convert(name, prop, text)
        if converted is None or not _leaf_ok(converted[0], prop):
            return None
        value, start, end = converted
        if schema_type(prop) == "number":
            amount = parse_amount(text[start:end], self.document.locale)
            if amount and amount.currency:
                self.currencies.append(amount.currency)
        return Found(
            value, key_value.page, key_value.line, key_value.start + start, key_value.start + end
        )

    def _in_running_text(
        self, name: str, prop: dict[str, Any], phrases: list[Phrase]
    ) -> Found | None:
        """A label inside a sentence ("Please pay $84.12 by …"): the value follows the label
        within a few words. Free text is only taken for identifiers ("your account 123-45")."""
        strong = [phrase for phrase in phrases if phrase.weight >= 0.75]
        own = {phrase.words for phrase in phrases}
        identifier = _is_identifier_field(name, prop)
        firsts = {phrase.words[0] for phrase in strong}
        best: tuple[float, Found] | None = None
        for line, flat in zip(self.document.lines, self._line_tokens(), strict=True):
            sequence = tuple(token for token, _ in flat)
            if not firsts.intersection(sequence):
                continue
            for phrase in strong:
                size = len(phrase.words)
                for index in range(len(sequence) - size + 1):
                    if sequence[index : index + size] != phrase.words:
                        continue
                    # "invoice" inside "Invoice date" names another concept: not a label here.
                    if names_other_concept(sequence[index : index + size + 1], own) or (
                        index and names_other_concept(sequence[index - 1 : index + size], own)
                    ):
                        continue
                    after = flat[index + size - 1][1]
                    rest = line.text[after : after + 60]
                    converted: tuple[Any, int, int] | None
                    if identifier:
                        converted = _identifier(rest)
                    elif schema_type(prop) == "string" and not _is_date_field(name, prop):
                        continue  # free text after a word in a sentence is not a value
                    else:
                        converted = self.converter.convert(name, prop, rest)
                    if converted is None or not _leaf_ok(converted[0], prop):
                        continue
                    value, start, end = converted
                    weight = phrase.weight * (0.95 if size > 1 else 0.8)
                    if best is None or weight > best[0]:
                        best = (
                            weight,
                            Found(
                                value,
                                line.page,
                                line.text,
                                line.start + after + start,
                                line.start + after + end,
                            ),
                        )
                    break
        return best[1] if best else None

    def _line_tokens(self) -> list[list[tuple[str, int]]]:
        """Each line's label tokens with the offset (in the line) where each word ends."""
        if self._tokens is None:
            self._tokens = [
                [
                    (token, match.end())
                    for match in re.finditer(r"[^\W_]+|#", line.text)
                    for token in tokens(match.group(0))
                ]
                for line in self.document.lines
            ]
        return self._tokens

    def _special(self, name: str, prop: dict[str, Any], phrases: list[Phrase]) -> Found | None:
        words = name_phrase(name)
        if (
            schema_type(prop) == "string"
            and words
            and words[-1] in {"unit", "units"}
            and len(words) > 1
        ):
            return self._unit(name, words[:-1], prop)
        return None

    def _unit(self, name: str, base: tuple[str, ...], prop: dict[str, Any]) -> Found | None:
        base_name = "_".join(base)
        base_phrases = phrases_for(base_name, "", ())
        for _, key_value in self.candidates(base_phrases):
            amounts = find_amounts(key_value.value, self.document.locale)
            if not amounts:
                continue
            rest = key_value.value[amounts[0].end :]
            match = re.match(r"\s*([^\W\d_][\w³²/.-]*(?:\s?[³²])?)", rest)
            if match:
                unit = match.group(1).rstrip(".")
                start = key_value.start + amounts[0].end + match.start(1)
                return Found(unit, key_value.page, key_value.line, start, start + len(unit))
        for _, key_value in self.candidates(phrases_for("unit", "", ())):
            found = self._convert(name, prop, key_value.value, key_value)
            if found is not None:
                return found
        return None

    def _fallback(self, name: str, prop: dict[str, Any], phrases: list[Phrase]) -> Found | None:
        words = {phrase.words for phrase in phrases}
        if _is_currency_field(name, prop):
            code = (
                (self.currencies[0] if self.currencies else None)
                or self.document.locale.currency
                or self.hints.currency
            )
            if code is None:
                return None
            return self._locate(code, derived=True)
        if schema_type(prop) == "string" and (("vendor",) in words or ("company",) in words):
            return self._issuer()
        # The document's own date (the invoice/statement/bill date group): a letter's date line.
        if _is_date_field(name, prop) and ("invoice", "date") in words:
            return self._dateline()
        return None

    def _dateline(self) -> Found | None:
        """A letter's date: a line near the top that is nothing but a date."""
        for line in self.document.lines[:8]:
            found = parse_date(line.text, self.document.locale)
            if found is not None and found[1] == 0 and found[2] >= len(line.text.rstrip(" .")):
                return Found(
                    found[0].isoformat(),
                    line.page,
                    line.text,
                    line.start,
                    line.start + found[2],
                    derived=True,
                )
        return None

    def _locate(self, value: str, *, derived: bool) -> Found:
        """Provenance for a value inferred from the document: the first line showing it."""
        markers = {value, *(s for s, c in _SYMBOL_CODES.items() if c == value)}
        for line in self.document.lines:
            for marker in markers:
                index = line.text.find(marker)
                if index >= 0:
                    return Found(
                        value,
                        line.page,
                        line.text,
                        line.start + index,
                        line.start + index + len(marker),
                        derived=derived,
                    )
        first = self.document.lines[0]
        return Found(value, first.page, first.text, first.start, first.start, derived=True)

    def _issuer(self) -> Found | None:
        """The company issuing the document: the first name-like text at its top."""
        document = self.document
        if document.kind == "csv":
            return None  # a CSV's first cell is a column name, never a letterhead
        if document.title:
            for line in document.lines[:10]:
                if document.title in line.text:
                    index = line.text.index(document.title)
                    return Found(
                        document.title,
                        line.page,
                        line.text,
                        line.start + index,
                        line.start + index + len(document.title),
                        derived=True,
                    )
        for line in document.lines[:4]:
            if line.page != 1:
                break
            for segment in line.segments:
                text = segment.text.strip()
                if segment.start in self._header_starts:
                    return None
                lowered = " ".join(tokens(text))
                if (
                    not is_label(text, document.locale)
                    or ":" in text
                    or lowered in _DOCUMENT_TITLES
                    or (lowered.split() or [""])[0] in {"invoice", "statement", "receipt", "page"}
                ):
                    continue
                return Found(text, line.page, line.text, segment.start, segment.end, derived=True)
        return None

    # Objects.
    def _object(
        self, name: str, prop: dict[str, Any], path: tuple[str, ...], parents: tuple[str, ...]
    ) -> dict[str, Any]:
        properties: dict[str, Any] = prop.get("properties") or {}
        result: dict[str, Any] = {}
        inner_parents = (*parents, name) if name else parents
        if name and _is_address(properties):
            return self._address(name, prop, path, parents)
        if name:
            result.update(self._period(name, prop, path, parents))
        for child, child_prop in properties.items():
            if child in result and result[child] is not None:
                continue
            if not isinstance(child_prop, dict):
                result[child] = None
                continue
            result[child] = self.value(child, child_prop, (*path, child), inner_parents)
        return result

    def _period(
        self, name: str, prop: dict[str, Any], path: tuple[str, ...], parents: tuple[str, ...]
    ) -> dict[str, Any]:
        """A period object (start/end dates, a day count) from "Jan 5, 2026 - Feb 4, 2026",
        or from two labelled dates ("Service from" / "Service to")."""
        properties: dict[str, Any] = prop.get("properties") or {}
        starts = [k for k, v in properties.items() if _is_date_field(k, v) and _role(k) == "start"]
        ends = [k for k, v in properties.items() if _is_date_field(k, v) and _role(k) == "end"]
        if not starts or not ends:
            return {}
        days = next(
            (
                k
                for k, v in properties.items()
                if schema_type(v) == "integer" and "days" in name_phrase(k)
            ),
            None,
        )
        phrases = self._phrases(name, prop, parents)
        labelled = [key_value for _, key_value in self.candidates(phrases)]
        for key_value in labelled + self._sole_period():
            period = parse_date_range(key_value.value, self.document.locale)
            if period is None:
                continue
            start, end, span_start, span_end = period
            found = Found(
                None,
                key_value.page,
                key_value.line,
                key_value.start + span_start,
                key_value.start + span_end,
            )
            result: dict[str, Any] = {}
            for key, value in ((starts[0], start), (ends[0], end)):
                found.value = value.isoformat()
                result[key] = self._record((*path, key), found)
            if days is not None:
                result[days] = self._days(
                    days, properties[days], path, (*parents, name), key_value, found, start, end
                )
            return result
        return self._period_ends(name, phrases, path, parents, starts[0], ends[0], days, prop)

    def _period_ends(
        self,
        name: str,
        phrases: list[Phrase],
        path: tuple[str, ...],
        parents: tuple[str, ...],
        start_key: str,
        end_key: str,
        days: str | None,
        prop: dict[str, Any],
    ) -> dict[str, Any]:
        """Start and end printed apart: labels naming the period plus a role word."""
        bare = [
            Phrase(stripped, phrase.weight)
            for phrase in phrases
            if (stripped := tuple(w for w in phrase.words if w not in ROLE_WORDS))
        ]
        ends: dict[str, tuple[datetime.date, KeyValue, int, int]] = {}
        for key_value in self.document.key_values:
            words = tokens(key_value.label)
            role = (
                "start" if set(words) & _START_WORDS else "end" if set(words) & _END_WORDS else None
            )
            rest = tuple(word for word in words if word not in ROLE_WORDS)
            if role is None or role in ends or score(rest, bare) < 0.6:
                continue
            found = parse_date(key_value.value, self.document.locale)
            if found is not None:
                ends[role] = (found[0], key_value, found[1], found[2])
        if set(ends) != {"start", "end"}:
            return {}
        result: dict[str, Any] = {}
        for key, role in ((start_key, "start"), (end_key, "end")):
            value, key_value, span_start, span_end = ends[role]
            result[key] = self._record(
                (*path, key),
                Found(
                    value.isoformat(),
                    key_value.page,
                    key_value.line,
                    key_value.start + span_start,
                    key_value.start + span_end,
                ),
            )
        if days is not None:
            start, start_kv, s0, s1 = ends["start"]
            end, _, _, _ = ends["end"]
            anchor = Found(
                None, start_kv.page, start_kv.line, start_kv.start + s0, start_kv.start + s1
            )
            properties: dict[str, Any] = prop.get("properties") or {}
            result[days] = self._days(
                days, properties[days], path, (*parents, name), start_kv, anchor, start, end
            )
        return result

    def _days(
        self,
        days: str,
        prop: dict[str, Any],
        path: tuple[str, ...],
        parents: tuple[str, ...],
        key_value: KeyValue,
        found: Found,
        start: datetime.date,
        end: datetime.date,
    ) -> Any:
        """The period's day count: printed beside it ("(30 days)"), labelled, or computed."""
        stated = re.search(r"\b(\d{1,3})\s*days?\b", key_value.line, re.I)
        if stated:
            offset = key_value.line.find(stated.group(0))
            line = self.document.line_at(key_value.start)
            base = line.start if line else key_value.start
            return self._record(
                (*path, days),
                Found(
                    int(stated.group(1)),
                    key_value.page,
                    key_value.line,
                    base + offset,
                    base + offset + len(stated.group(0)),
                ),
            )
        other = self.value(days, prop, (*path, days), parents)
        if other is not None:
            return other
        # Not printed: the number of days between the two dates.
        derived = Found((end - start).days, found.page, found.line, found.start, found.end, True)
        return self._record((*path, days), derived)

    def _sole_period(self) -> list[KeyValue]:
        """The document's only date range, whatever labels it ("For service", a sentence)."""
        found: dict[tuple[Any, Any], KeyValue] = {}
        for line in self.document.lines:
            period = parse_date_range(line.text, self.document.locale)
            if period is not None:
                found.setdefault(
                    (period[0], period[1]),
                    KeyValue("", line.text, line.page, line.text, line.start, line.end, "text"),
                )
        return list(found.values()) if len(found) == 1 else []

    def _address(
        self, name: str, prop: dict[str, Any], path: tuple[str, ...], parents: tuple[str, ...]
    ) -> dict[str, Any]:
        properties: dict[str, Any] = prop.get("properties") or {}
        result: dict[str, Any] = dict.fromkeys(properties)
        phrases = self._phrases(name, prop, parents)
        for _, key_value in self.candidates(phrases):
            text, line = key_value.value, self.document.line_at(key_value.start)
            pieces = [(key_value.value, key_value.start, key_value.page, key_value.line)]
            if line is not None and not _CITY_LINE.search(text):
                # The rest of the address on the next line(s), in the same column.
                for follow in self.document.lines[line.index + 1 : line.index + 3]:
                    below = min(
                        follow.segments,
                        key=lambda seg: abs(seg.x0 - _value_x(line, key_value.start)),
                    )
                    pieces.append((below.text, below.start, follow.page, follow.text))
                    text = f"{text}, {below.text}"
                    if _CITY_LINE.search(below.text):
                        break
            parsed = parse_address(text)
            if not parsed:
                continue
            for key in properties:
                part = _address_part(key)
                if part and parsed.get(part):
                    value = parsed[part]
                    page, line_text, start = key_value.page, key_value.line, key_value.start
                    for piece_text, piece_start, piece_page, piece_line in pieces:
                        index = piece_text.find(value)
                        if index >= 0:
                            page, line_text, start = piece_page, piece_line, piece_start + index
                            break
                    result[key] = self._record(
                        (*path, key), Found(value, page, line_text, start, start + len(value))
                    )
            if any(value is not None for value in result.values()):
                break
        for key, child in properties.items():
            if result.get(key) is None and isinstance(child, dict) and not _address_part(key):
                result[key] = self.value(key, child, (*path, key), (*parents, name))
        return result

    # Arrays.
    def _array(
        self, name: str, prop: dict[str, Any], path: tuple[str, ...], parents: tuple[str, ...]
    ) -> list[Any] | None:
        items = prop.get("items")
        if not isinstance(items, dict):
            return None
        items = _branch(items)
        if schema_type(items) == "object":
            rows = self._rows(name, items, path)
            if rows is not None:
                return rows
            # No table: one item read from the whole document, when clearly labelled values
            # say enough (a loose label match must not invent an item).
            self._min_score = 0.8
            try:
                item = self._object("", items, (*path, "0"), (*parents, name))
            finally:
                self._min_score = THRESHOLD
            filled = sum(1 for value in _leaves(item) if value is not None)
            needed = min(2, len(items.get("properties") or {}))
            if filled >= max(needed, 1):
                return [item]
            self._forget((*path, "0"))
            return None
        return self._scalars(name, prop, items, path)

    def _forget(self, prefix: tuple[str, ...]) -> None:
        start = self._path(prefix)
        for key in [key for key in self.provenance if key == start or key.startswith(start + "/")]:
            del self.provenance[key]

    def _rows(self, name: str, items: dict[str, Any], path: tuple[str, ...]) -> list[Any] | None:
        properties: dict[str, Any] = items.get("properties") or {}
        if not properties:
            return None
        best: tuple[float, list[tuple[Table, dict[str, int]]]] | None = None
        for table in self.document.tables:
            mapping, total = _map_columns(table, properties, name)
            needed = 1 if len(properties) == 1 else 2
            if len(mapping) < needed:
                continue
            if best is not None and [c.text for c in best[1][0][0].header] == [
                c.text for c in table.header
            ]:
                best[1].append((table, mapping))  # the same table continued on another page
                continue
            if best is None or total > best[0]:
                best = (total, [(table, mapping)])
        if best is None:
            # No table with a header: the longest run of "label  amount" lines (a charges
            # section) read as description/amount rows.
            run = self._amount_run()
            if run is None:
                return None
            mapping, _ = _map_columns(run, properties, name)
            if not mapping:
                return None
            best = (-1.0, [(run, mapping)])
        items_out: list[Any] = []
        for table, mapping in best[1]:
            running = 0.0
            for row in table.rows:
                texts = [cell.text if cell else "" for cell in row]
                if self._totals_row(texts, running, len(items_out)):
                    continue
                amounts = [parse_amount(text, self.document.locale) for text in texts[1:]]
                last = next((a.value for a in reversed(amounts) if a is not None), 0.0)
                running += last
                item: dict[str, Any] = {}
                item_path = (*path, str(len(items_out)))
                for key, child in properties.items():
                    column = mapping.get(key)
                    cell = row[column] if column is not None and column < len(row) else None
                    item[key] = self._cell(key, child, cell, (*item_path, key))
                if any(value is not None for value in item.values()):
                    items_out.append(item)
        if best[0] < 0 and len(items_out) < 2:
            return None  # totals (subtotal, tax, total) and one stray line are not a list
        return items_out

    def _amount_run(self) -> Table | None:
        """Consecutive lines each holding a label and a money amount, as a two-column table."""
        by_line: dict[int, KeyValue] = {}
        for key_value in self.document.key_values:
            if key_value.kind not in {"column", "inline"}:
                continue
            amount = parse_amount(key_value.value, self.document.locale)
            line = self.document.line_at(key_value.start)
            if amount is None or line is None or not (amount.currency or amount.has_decimals):
                continue
            by_line.setdefault(line.index, key_value)
        runs: list[list[KeyValue]] = []
        for index in sorted(by_line):
            key_value = by_line[index]
            previous = runs[-1][-1] if runs else None
            if (
                previous is not None
                and index - 1 in by_line
                and by_line[index - 1] is previous
                and previous.page == key_value.page
            ):
                runs[-1].append(key_value)
            else:
                runs.append([key_value])
        longest = max(runs, key=len, default=[])
        if len(longest) < 2:
            return None
        first = longest[0]
        header = [
            Cell("Description", first.page, first.label_start, first.label_start, first.line),
            Cell("Amount", first.page, first.start, first.start, first.line),
        ]
        rows: list[list[Cell | None]] = [
            [
                Cell(kv.label, kv.page, kv.label_start, kv.label_start + len(kv.label), kv.line),
                Cell(kv.value, kv.page, kv.start, kv.end, kv.line),
            ]
            for kv in longest
        ]
        return Table(page=first.page, header=header, rows=rows)

    def _totals_row(self, texts: list[str], running: float, items: int) -> bool:
        """A subtotal/tax/total line printed inside or under the table, not an item.

        Named like a total ("Gesamtbetrag", "Amount due") with at most a value beside it, or
        its last amount equal to the sum of the items above it.
        """
        filled = [text for text in texts if text]
        if not filled:
            return True
        first = filled[0]
        if len(filled) <= 2 and (_TOTAL_ROW.match(first) or score(first, _totals_phrases()) >= 0.7):
            return True
        if items >= 2 and len(filled) <= 2:
            amount = parse_amount(filled[-1], self.document.locale)
            if amount is not None and abs(amount.value - running) < 0.005:
                return True
        return False

    def _cell(
        self, key: str, prop: dict[str, Any], cell: Cell | None, path: tuple[str, ...]
    ) -> Any:
        if cell is None or not isinstance(prop, dict):
            return None
        prop = _branch(prop)
        converted = self.converter.convert(key, prop, cell.text)
        if converted is None or not _leaf_ok(converted[0], prop):
            return None
        value, start, end = converted
        return self._record(
            path, Found(value, cell.page, cell.line, cell.start + start, cell.start + end)
        )

    def _scalars(
        self, name: str, prop: dict[str, Any], items: dict[str, Any], path: tuple[str, ...]
    ) -> list[Any] | None:
        phrases = self._phrases(name, prop, ())
        singular = name[:-1] if name.endswith("s") else name
        phrases += phrases_for(singular, "", ())
        for table in self.document.tables:
            for column, header in enumerate(table.header):
                if score(header.text, phrases) < THRESHOLD:
                    continue
                values: list[Any] = []
                for row in table.rows:
                    cell = row[column] if column < len(row) else None
                    value = self._cell(singular, items, cell, (*path, str(len(values))))
                    if value is not None:
                        values.append(value)
                if values:
                    return values
        for _, key_value in self.candidates(phrases):
            values = []
            offset = 0
            for piece in re.split(r"\s*[,;]\s*", key_value.value):
                index = key_value.value.find(piece, offset)
                offset = index + len(piece)
                converted = self.converter.convert(singular, items, piece)
                if converted is None or not _leaf_ok(converted[0], items):
                    continue
                value, start, end = converted
                values.append(
                    self._record(
                        (*path, str(len(values))),
                        Found(
                            value,
                            key_value.page,
                            key_value.line,
                            key_value.start + index + start,
                            key_value.start + index + end,
                        ),
                    )
                )
            if values:
                return values
        return None


_SYMBOL_CODES = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY"}
_CITY_LINE = re.compile(r"[A-Za-z .'-]+,?\s+[A-Z]{2}\s+\d{5}(?:-\d{4})?\b|\b\d{5}\s+[A-Z][a-z]+")


@lru_cache(maxsize=1)
def _totals_phrases() -> list[Phrase]:
    return [
        phrase
        for name in ("amount_due", "total_amount", "subtotal", "tax")
        for phrase in phrases_for(name)
        if phrase.weight >= 0.8  # "Please pay" ends a receipt; "Balance" alone may not
    ]


def _is_identifier_field(name: str, prop: dict[str, Any]) -> bool:
    words = name_phrase(name)
    return schema_type(prop) == "string" and bool(words) and words[-1] in {"number", "id"}


def _identifier(text: str) -> tuple[str, int, int] | None:
    """The account/invoice number right after a label in a sentence: the first token with a
    digit in the next two words ("your account 58291-44720.", "invoice no. A-1042")."""
    dates = [(found.start, found.end) for found in find_dates(text)]
    for match in list(re.finditer(r"[A-Za-z0-9][\w./#-]*", text))[:3]:
        token = match.group(0).rstrip(".,;:")
        inside_date = any(start <= match.start() < end for start, end in dates)
        if re.search(r"\d", token) and len(token) >= 3 and not inside_date:
            return token, match.start(), match.start() + len(token)
    return None


def _value_x(line: Line, offset: int) -> float:
    for segment in line.segments:
        if segment.start <= offset <= segment.end:
            return segment.x0
    return line.segments[0].x0


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for child in value.values():
            yield from _leaves(child)
    elif isinstance(value, list):
        for child in value:
            yield from _leaves(child)
    else:
        yield value


def _is_address(properties: dict[str, Any]) -> bool:
    return sum(1 for key in properties if _address_part(key)) >= 2


def _address_part(key: str) -> str | None:
    words = " ".join(name_phrase(key))
    for part, names in ADDRESS_KEYS.items():
        if words in names or any(words == " ".join(tokens(name)) for name in names):
            return part
    return None


def parse_address(text: str) -> dict[str, str] | None:
    """Street, city, state, postal code from one or two address lines.

    US-style "4421 Oak View Ln Unit 3A, Cambridge, MA 02140", EU "Hauptstr. 5, 10115 Berlin".
    """
    text = " ".join(text.split())
    match = re.search(
        r"^(?P<street>.+?),?\s+(?P<city>[A-Za-z][A-Za-z .'-]*?),\s*(?P<state>[A-Z]{2})\s+"
        r"(?P<postal_code>\d{5}(?:-\d{4})?)\b",
        text,
    )
    if match:
        return {key: value.strip(" ,") for key, value in match.groupdict().items()}
    match = re.search(
        r"^(?P<street>.+?),\s*(?P<postal_code>\d{4,5})\s+(?P<city>[^\W\d][\w .'-]*)", text
    )
    if match:
        return {key: value.strip(" ,") for key, value in match.groupdict().items()}
    if re.search(r"\d", text) and "," not in text:
        return {"street": text}
    return None


def _map_columns(
    table: Table, properties: dict[str, Any], array_name: str
) -> tuple[dict[str, int], float]:
    """Which header column holds which item property (one each, best matches first)."""
    scores: list[tuple[float, str, int]] = []
    for key, child in properties.items():
        if not isinstance(child, dict):
            continue
        phrases = phrases_for(key, str(child.get("description") or ""), ())
        for column, header in enumerate(table.header):
            if header.text:
                value = score(header.text, phrases)
                if value >= THRESHOLD:
                    scores.append((value, key, column))
    scores.sort(key=lambda item: -item[0])
    mapping: dict[str, int] = {}
    used: set[int] = set()
    total = 0.0
    for value, key, column in scores:
        if key in mapping or column in used:
            continue
        mapping[key] = column
        used.add(column)
        total += value
    return mapping, total


_PLAIN_KEYWORDS = frozenset({"type", "format", "description", "title", "examples", "default"})
_validators: dict[str, Any] = {}


def _leaf_ok(value: Any, prop: dict[str, Any]) -> bool:
    """The value satisfies its own subschema (pattern, range, length…)."""
    if set(prop) <= _PLAIN_KEYWORDS:
        return True  # the converter already produced the declared type
    leaf = {key: item for key, item in prop.items() if key not in {"description", "title"}}
    key = json.dumps(leaf, sort_keys=True, default=str)
    validator = _validators.get(key)
    if validator is None:
        # Compiled once per distinct leaf schema: validating a table of rows stays cheap.
        validator = validator_for(leaf)(leaf)
        if len(_validators) < 1024:
            _validators[key] = validator
    return bool(validator.is_valid(value))
