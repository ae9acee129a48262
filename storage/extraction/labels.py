"""Which printed labels mean which schema field: normalised tokens, synonyms, a score.

A field's phrases come from its property name ("amount_due" → "amount due"), its parent
object's name, its description, and every synonym group any of those names. A printed label
is scored against each phrase; the best score wins. No vendor templates: the same table reads
"Total due", "Balance due" and "Amount payable" as the amount due on any layout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

ABBREVIATIONS = {
    "acct": "account",
    "acc": "account",
    "a/c": "account",
    "no": "number",
    "num": "number",
    "nbr": "number",
    "nr": "number",
    "amt": "amount",
    "inv": "invoice",
    "qty": "quantity",
    "pymt": "payment",
    "pmt": "payment",
    "dt": "date",
    "svc": "service",
    "stmt": "statement",
    "bal": "balance",
    "tel": "phone",
    "ph": "phone",
    "addr": "address",
    "desc": "description",
    "ref": "reference",
    "cust": "customer",
    "zip": "postal",
    "postcode": "postal",
    "subtotal": "subtotal",
    "vat": "tax",
    "gst": "tax",
    "hst": "tax",
    "usage": "usage",
    "kwh": "kwh",
}
STOPWORDS = frozenset(
    [
        "the",
        "of",
        "your",
        "a",
        "an",
        "this",
        "for",
        "in",
        "on",
        "please",
        "our",
        "is",
        "are",
        "be",
        "you",
        "at",
    ]
)
CURRENCY_TOKENS = frozenset(["usd", "eur", "gbp", "cad", "aud", "chf", "jpy"])

# Concept groups: (phrase, weight). A field named like any phrase of a group gets them all.
SYNONYMS: list[list[tuple[str, float]]] = [
    [
        ("amount due", 1),
        ("total due", 1),
        ("balance due", 1),
        ("amount payable", 1),
        ("total amount due", 1),
        ("pay this amount", 1),
        ("amount to pay", 1),
        ("total payable", 1),
        ("new balance", 0.9),
        ("total balance due", 1),
        ("current amount due", 1),
        ("pay", 0.8),
        ("balance", 0.75),
        ("amount now due", 1),
        ("total to pay", 1),
        ("montant à payer", 1),
        ("zu zahlen", 1),
        ("total amount", 0.75),
        ("total", 0.7),
    ],
    [
        ("total amount", 1),
        ("total", 1),
        ("grand total", 1),
        ("invoice total", 1),
        ("invoice amount", 1),
        ("total incl tax", 1),
        ("total including tax", 1),
        ("amount", 0.75),
        ("total due", 0.9),
        ("amount due", 0.85),
        ("total amount due", 0.9),
        ("balance due", 0.85),
        ("gesamtbetrag", 1),
        ("total ttc", 1),
        ("totale", 1),
        ("summe", 0.9),
        ("gesamt", 0.9),
        ("total eur", 1),
    ],
    [
        ("due date", 1),
        ("payment due", 1),
        ("payment due date", 1),
        ("pay by", 1),
        ("due by", 1),
        ("due on", 1),
        ("date due", 1),
        ("payable by", 1),
        ("received by", 0.9),
        ("fällig am", 1),
        ("zahlbar bis", 1),
        ("échéance", 1),
        ("date d échéance", 1),
        ("due", 0.8),
    ],
    [
        ("account number", 1),
        ("account", 0.85),
        ("account id", 1),
        ("customer number", 0.9),
        ("customer account", 0.9),
        ("customer account number", 1),
        ("member number", 0.85),
        ("customer id", 0.85),
        ("client number", 0.85),
        ("kundennummer", 0.9),
        ("numéro de client", 0.9),
    ],
    [
        ("billing period", 1),
        ("service period", 1),
        ("statement period", 1),
        ("billing cycle", 1),
        ("bill period", 1),
        ("usage period", 1),
        ("service dates", 1),
        ("period", 0.85),
        ("service from", 0.8),
        ("leistungszeitraum", 1),
        ("abrechnungszeitraum", 1),
        ("période de facturation", 1),
    ],
    [
        ("invoice date", 1),
        ("bill date", 1),
        ("billing date", 1),
        ("statement date", 1),
        ("date issued", 1),
        ("issue date", 1),
        ("date of issue", 1),
        ("issued", 0.85),
        ("document date", 1),
        ("receipt date", 1),
        ("transaction date", 0.9),
        ("purchase date", 0.9),
        ("order date", 0.85),
        ("date", 0.75),
        ("rechnungsdatum", 1),
        ("datum", 0.8),
        ("date de facture", 1),
        ("fecha", 0.8),
    ],
    [
        ("vendor", 1),
        ("vendor name", 1),
        ("company", 1),
        ("company name", 1),
        ("merchant", 1),
        ("merchant name", 1),
        ("supplier", 1),
        ("seller", 1),
        ("biller", 1),
        ("provider", 1),
        ("service provider", 1),
        ("issuer", 1),
        ("sold by", 1),
        ("store", 0.9),
        ("store name", 1),
        ("from", 0.75),
        ("utility", 0.8),
        ("payee", 0.9),
        ("business name", 1),
    ],
    [
        ("usage", 1),
        ("total usage", 1),
        ("consumption", 1),
        ("total consumption", 1),
        ("energy used", 1),
        ("amount used", 1),
        ("units used", 1),
        ("verbrauch", 1),
        ("kwh used", 1),
    ],
    [
        ("invoice number", 1),
        ("invoice", 0.8),
        ("invoice id", 1),
        ("bill number", 1),
        ("statement number", 1),
        ("receipt number", 1),
        ("document number", 1),
        ("reference", 0.8),
        ("reference number", 0.9),
        ("order number", 0.8),
        ("transaction id", 0.8),
        ("rechnungsnummer", 1),
        ("numéro de facture", 1),
        ("factura", 0.8),
    ],
    [
        ("subtotal", 1),
        ("sub total", 1),
        ("net amount", 1),
        ("net total", 1),
        ("total before tax", 1),
        ("nettobetrag", 1),
        ("total ht", 1),
    ],
    [
        ("tax", 1),
        ("tax amount", 1),
        ("sales tax", 1),
        ("total tax", 1),
        ("tax total", 1),
        ("mwst", 1),
        ("ust", 0.9),
        ("tva", 1),
    ],
    [
        ("customer name", 1),
        ("customer", 0.9),
        ("bill to", 1),
        ("billed to", 1),
        ("sold to", 1),
        ("account holder", 1),
        ("account name", 1),
        ("name", 0.75),
        ("client", 0.85),
    ],
    [
        ("service address", 1),
        ("address", 0.85),
        ("service location", 1),
        ("premises", 0.9),
        ("supply address", 1),
    ],
    [
        ("previous balance", 1),
        ("prior balance", 1),
        ("last bill amount", 1),
        ("balance forward", 0.9),
    ],
    [
        ("payments", 1),
        ("payment received", 1),
        ("payments received", 1),
        ("last payment", 0.9),
    ],
    [
        ("total charges", 1),
        ("current charges", 1),
        ("new charges", 1),
        ("total current charges", 1),
        ("charges", 0.85),
    ],
    [
        ("description", 1),
        ("item", 1),
        ("item description", 1),
        ("service", 0.9),
        ("product", 1),
        ("details", 0.9),
        ("particulars", 1),
        ("charge", 0.85),
        ("bezeichnung", 1),
        ("beschreibung", 1),
        ("désignation", 1),
        ("article", 0.9),
        ("name", 0.8),
    ],
    [
        ("quantity", 1),
        ("units", 0.9),
        ("hours", 0.8),
        ("menge", 1),
        ("qté", 1),
        ("quantité", 1),
        ("count", 0.8),
    ],
    [
        ("unit price", 1),
        ("price", 0.9),
        ("rate", 0.9),
        ("unit cost", 1),
        ("price each", 1),
        ("each", 0.8),
        ("einzelpreis", 1),
        ("prix unitaire", 1),
    ],
    [
        ("line total", 1),
        ("amount", 1),
        ("total", 0.85),
        ("line amount", 1),
        ("cost", 0.85),
        ("betrag", 1),
        ("montant", 1),
        ("extended", 0.8),
    ],
    [
        ("total days", 1),
        ("days", 1),
        ("billing days", 1),
        ("number of days", 1),
        ("days in period", 1),
        ("days of service", 1),
        ("service days", 1),
        ("days billed", 1),
    ],
    [("tip", 1), ("gratuity", 1)],
    [("discount", 1), ("savings", 0.9), ("rabatt", 1)],
    [("phone", 1), ("phone number", 1), ("telephone", 1)],
    [("email", 1), ("e mail", 1), ("email address", 1)],
    [("currency", 1), ("währung", 1), ("devise", 1)],
    [("meter number", 1), ("meter", 0.9), ("meter id", 1)],
    [("payment method", 1), ("paid by", 0.9), ("card", 0.8), ("tender", 0.9)],
    [("rate plan", 1), ("tariff", 1), ("plan", 0.85), ("rate schedule", 1)],
    [("street", 1), ("street address", 1), ("address line 1", 1)],
    [("city", 1), ("town", 1)],
    [("state", 1), ("province", 1), ("region", 0.9)],
    [("postal code", 1), ("postal", 1), ("zip code", 1), ("postcode", 1)],
    [("service type", 1), ("utility type", 1), ("commodity", 1)],
]

# Concept groups a bare name should not pull in (they would match anything).
_GENERIC = frozenset({"name", "date", "amount", "total", "number", "type", "value"})


@lru_cache(maxsize=65536)
def tokens(text: str) -> tuple[str, ...]:
    """Lowercase words with abbreviations expanded and filler words dropped."""
    text = text.lower().replace("#", " number ").replace("&", " and ")
    words = re.findall(r"[^\W_]+(?:/[^\W_]+)?", text)
    out: list[str] = []
    for word in words:
        word = ABBREVIATIONS.get(word, word)
        if word in STOPWORDS or word in CURRENCY_TOKENS:
            continue
        out.append(word)
    return tuple(out)


def name_phrase(name: str) -> tuple[str, ...]:
    """A property name as words: "amountDue", "amount_due", "Amount-Due" → amount due."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)
    return tokens(spaced.replace("_", " ").replace("-", " "))


def _contains(haystack: tuple[str, ...], needle: tuple[str, ...]) -> bool:
    size = len(needle)
    return any(
        haystack[index : index + size] == needle for index in range(len(haystack) - size + 1)
    )


@dataclass(frozen=True)
class Phrase:
    words: tuple[str, ...]
    weight: float


@lru_cache(maxsize=1)
def _groups() -> list[list[Phrase]]:
    return [[Phrase(tokens(text), weight) for text, weight in group] for group in SYNONYMS]


@lru_cache(maxsize=1)
def _known() -> frozenset[tuple[str, ...]]:
    """Labels that name a concept of their own (multi-word phrases of the synonym table)."""
    return frozenset(
        phrase.words for group in _groups() for phrase in group if len(phrase.words) > 1
    )


def phrases_for(name: str, description: str = "", parents: tuple[str, ...] = ()) -> list[Phrase]:
    """Every phrase that can label the field, each with the confidence it carries."""
    base = name_phrase(name)
    found: dict[tuple[str, ...], float] = {}

    def add(words: tuple[str, ...], weight: float) -> None:
        if words and weight > found.get(words, 0):
            found[words] = weight

    add(base, 1.0)
    for parent in parents:
        add(name_phrase(parent) + base, 1.0)
    for group in _groups():
        names = {phrase.words for phrase in group}
        if base in names and base not in {(word,) for word in _GENERIC}:
            for phrase in group:
                add(phrase.words, phrase.weight)
        elif base in names:
            own = next(phrase.weight for phrase in group if phrase.words == base)
            if own >= 1:
                for phrase in group:
                    add(phrase.words, phrase.weight)
    # "employee_name" is printed "Employee"; "vendor_name" "Vendor".
    if len(base) > 1 and base[-1] == "name":
        add(base[:-1], 0.8)
    if description:
        described = tokens(description)
        if 0 < len(described) <= 4:
            add(described, 0.9)  # a short description is the printed label itself
        for group in _groups():
            for phrase in group:
                if (
                    phrase.weight >= 1
                    and len(phrase.words) > 1
                    and _contains(described, phrase.words)
                ):
                    for other in group:
                        add(other.words, other.weight * 0.9)
                    break
    # Role words ("start", "end") describe a part of a value, not the label printed for it.
    stripped = tuple(word for word in base if word not in ROLE_WORDS)
    if stripped != base and stripped and stripped not in {(word,) for word in _GENERIC}:
        for group in _groups():
            if stripped in {phrase.words for phrase in group}:
                for phrase in group:
                    add(phrase.words, phrase.weight * 0.9)
        add(stripped, 0.9)
    return [Phrase(words, weight) for words, weight in found.items()]


ROLE_WORDS = frozenset(
    ["start", "end", "begin", "beginning", "from", "to", "through", "until", "unit"]
)


def names_other_concept(words: tuple[str, ...], own: set[tuple[str, ...]]) -> bool:
    """``words`` is a known label of some concept other than the field's own."""
    return words in _known() and words not in own


def score(label: str | tuple[str, ...], phrases: list[Phrase]) -> float:
    """How well a printed label names the field, 0…1."""
    words = tokens(label) if isinstance(label, str) else label
    if not words:
        return 0.0
    # "Invoice date" names a concept of its own: it must not label the invoice number just
    # because it contains "invoice".
    own = {phrase.words for phrase in phrases}
    cap = 0.45 if words in _known() and words not in own else 1.0
    best = 0.0
    for phrase in phrases:
        p = phrase.words
        if words == p:
            value = 1.0
        elif _contains(words, p):
            value = 0.9 - 0.15 * (len(words) - len(p))
        elif _contains(p, words):
            value = 0.75 * len(words) / len(p)
        else:
            common = len(set(words) & set(p))
            value = 0.6 * common / len(set(words) | set(p))
        if words != p:
            value = min(value, cap)
        best = max(best, value * phrase.weight)
    return best
