"""Draft a task definition from a plain-words description of the job.

The built-in drafter reads the description for the kind of document or record wanted (bills,
statements, invoices, reservations, payslips, payments, transactions, balances, documents),
the fields asked for ("amount", "due date", "account number" …), how many ("last three"),
date ranges and whether files are wanted ("download", "PDF"). It produces a name, a prompt,
input and output JSON Schemas and storage settings that pass ``tasks.definitions``. The
person reviews the draft before anything is saved; nothing here writes.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from deck.errors import DeckError
from deck.models import Organization
from deck.vault.services import vault_reveal
from tasks import definitions
from tasks.agent.llm_client import LlmError, chat
from tasks.models import Agent
from tasks.services import LLM_API_KEY_PURPOSE

logger = logging.getLogger(__name__)

MAX_COUNT = 24
NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "a couple of": 2,
    "a few": 3,
}


@dataclass(frozen=True)
class Kind:
    """A kind of record a job fetches: its names and the fields returned when none are named."""

    key: str
    singular: str
    plural: str
    pattern: str
    default_fields: tuple[str, ...]
    # Documents of this kind are files worth keeping even when the description does not say so.
    files: bool = False


KINDS: tuple[Kind, ...] = (
    Kind(
        "bill",
        "bill",
        "bills",
        r"\bbills?\b",
        ("billing_date", "amount", "due_date", "account_number"),
        files=True,
    ),
    Kind(
        "statement",
        "statement",
        "statements",
        r"\bstatements?\b",
        ("statement_date", "period_start", "period_end", "closing_balance"),
        files=True,
    ),
    Kind(
        "invoice",
        "invoice",
        "invoices",
        r"\binvoices?\b",
        ("invoice_number", "invoice_date", "amount", "due_date", "status"),
        files=True,
    ),
    Kind(
        "reservation",
        "reservation",
        "reservations",
        r"\b(reservations?|bookings?)\b",
        ("confirmation_number", "check_in", "check_out", "location", "status"),
    ),
    Kind(
        "payslip",
        "payslip",
        "payslips",
        r"\b(payslips?|pay ?stubs?|pay slips?|salary slips?)\b",
        ("pay_date", "period_start", "period_end", "gross_pay", "net_pay"),
        files=True,
    ),
    Kind(
        "transaction",
        "transaction",
        "transactions",
        r"\btransactions?\b",
        ("date", "description", "amount", "currency"),
    ),
    Kind(
        "payment",
        "payment",
        "payments",
        r"\bpayments?\b",
        ("date", "payee", "amount", "status"),
    ),
    Kind(
        "receipt",
        "receipt",
        "receipts",
        r"\breceipts?\b",
        ("date", "merchant", "amount", "currency"),
        files=True,
    ),
    Kind(
        "balance",
        "balance",
        "balances",
        r"\bbalances?\b",
        ("account_name", "balance", "currency", "as_of"),
    ),
    Kind(
        "document",
        "document",
        "documents",
        r"\b(documents?|files?|reports?|letters?)\b",
        ("title", "date"),
        files=True,
    ),
)

DATE = {"type": "string", "format": "date"}
MONEY = {"type": "number"}
TEXT = {"type": "string"}

# Output field → its schema, with a description that tells the agent what to read.
FIELDS: dict[str, dict[str, Any]] = {
    "amount": {**MONEY, "description": "The amount, as a number without currency symbol."},
    "amount_due": {**MONEY, "description": "The amount due, as a number."},
    "balance": {**MONEY, "description": "The balance, as a number."},
    "closing_balance": {**MONEY, "description": "The closing balance, as a number."},
    "gross_pay": {**MONEY, "description": "Gross pay, as a number."},
    "net_pay": {**MONEY, "description": "Net pay, as a number."},
    "tax": {**MONEY, "description": "Tax, as a number."},
    "usage": {"type": "number", "description": "Consumption for the period (kWh, m³ …)."},
    "due_date": {**DATE, "description": "When payment is due (YYYY-MM-DD)."},
    "billing_date": {**DATE, "description": "The date the bill was issued (YYYY-MM-DD)."},
    "statement_date": {**DATE, "description": "The statement date (YYYY-MM-DD)."},
    "invoice_date": {**DATE, "description": "The invoice date (YYYY-MM-DD)."},
    "pay_date": {**DATE, "description": "The pay date (YYYY-MM-DD)."},
    "period_start": {**DATE, "description": "First day of the period covered (YYYY-MM-DD)."},
    "period_end": {**DATE, "description": "Last day of the period covered (YYYY-MM-DD)."},
    "check_in": {**DATE, "description": "Check-in or start date (YYYY-MM-DD)."},
    "check_out": {**DATE, "description": "Check-out or end date (YYYY-MM-DD)."},
    "date": {**DATE, "description": "The date (YYYY-MM-DD)."},
    "as_of": {**DATE, "description": "The date the figure applies to (YYYY-MM-DD)."},
    "account_number": {**TEXT, "description": "The account number as printed."},
    "account_name": {**TEXT, "description": "The account's name."},
    "invoice_number": {**TEXT, "description": "The invoice number."},
    "confirmation_number": {**TEXT, "description": "The confirmation or booking reference."},
    "reference": {**TEXT, "description": "The reference shown for it."},
    "currency": {**TEXT, "description": "ISO 4217 currency code, e.g. USD."},
    "status": {**TEXT, "description": "The status as shown (paid, open, confirmed …)."},
    "description": {**TEXT, "description": "The description as shown."},
    "payee": {**TEXT, "description": "Who was paid."},
    "merchant": {**TEXT, "description": "The merchant's name."},
    "location": {**TEXT, "description": "Where (property, city or address)."},
    "employer": {**TEXT, "description": "The employer's name."},
    "title": {**TEXT, "description": "The document's title."},
    "name": {**TEXT, "description": "The name as shown."},
    "address": {**TEXT, "description": "The address as shown."},
}

# Phrases in the description → output fields. Longer phrases are tried first so "amount
# due" wins over "amount" and "due date" over "date".
PHRASES: tuple[tuple[str, str], ...] = (
    (r"amounts? due|balance due|amount owed|how much (?:i|we) owe", "amount_due"),
    (r"due dates?|payment due|when (?:it'?s|they'?re|it is|they are) due", "due_date"),
    (r"billing dates?|bill dates?|issue dates?|issued", "billing_date"),
    (r"statement dates?", "statement_date"),
    (r"invoice dates?", "invoice_date"),
    (r"pay dates?|paydays?", "pay_date"),
    (r"billing periods?|statement periods?|periods?", "period_start"),
    (r"check[- ]?in", "check_in"),
    (r"check[- ]?out", "check_out"),
    (r"account numbers?|account no\.?|account ids?", "account_number"),
    (r"account names?", "account_name"),
    (r"invoice numbers?|invoice no\.?", "invoice_number"),
    (r"confirmation (?:numbers?|codes?)|booking (?:references?|numbers?)", "confirmation_number"),
    (r"closing balances?|ending balances?", "closing_balance"),
    (r"gross(?: pay)?", "gross_pay"),
    (r"net(?: pay)?|take[- ]home", "net_pay"),
    (r"\btax(?:es)?\b", "tax"),
    (r"usage|consumption|kwh", "usage"),
    (r"\bbalances?\b", "balance"),
    (r"\bamounts?\b|\btotals?\b|how much|\bcosts?\b|\bprices?\b", "amount"),
    (r"currenc(?:y|ies)", "currency"),
    (r"\bstatus(?:es)?\b|paid or (?:not|unpaid)", "status"),
    (r"descriptions?|details|memo", "description"),
    (r"payees?|recipients?", "payee"),
    (r"merchants?|vendors?|stores?|shops?", "merchant"),
    (r"locations?|propert(?:y|ies)|venues?|addresses of", "location"),
    (r"employers?", "employer"),
    (r"references?", "reference"),
    (r"titles?", "title"),
    (r"addresse?s?", "address"),
    (r"\bdates?\b|\bwhen\b", "date"),
)

# A billing period is two fields.
COMPANIONS = {"period_start": ("period_end",)}

# Input hints: (pattern, property, schema, tokenized).
INPUTS: tuple[tuple[str, str, dict[str, Any], bool], ...] = (
    (
        r"\bfor (?:an?|the|each|my|a given|one) (?:specific )?account\b|\bfor account\b"
        r"|\bgiven account\b|\baccount number (?:i|we) (?:give|pass|provide)",
        "account_number",
        {"type": "string", "description": "The account to fetch for."},
        True,
    ),
    (
        r"\bcard numbers?\b|\bcredit card\b(?= number)",
        "card_number",
        {"type": "string", "description": "The card number."},
        True,
    ),
    (
        r"\b(?:ssn|social security)\b",
        "ssn",
        {"type": "string", "description": "The social security number."},
        True,
    ),
    (
        r"\bdate of birth\b|\bdob\b",
        "date_of_birth",
        {"type": "string", "format": "date", "description": "Date of birth."},
        True,
    ),
)
DATE_RANGE = re.compile(
    r"\b(since|between|from \w+ (?:to|until)|date range|in (?:19|20)\d\d|this year|last year"
    r"|last (?:month|quarter|week)|past (?:month|year|\d+ (?:days|months))|after|before)\b"
)
FILES = re.compile(
    r"\b(download|pdfs?|copies|copy|save|keep|files?|attachments?|scans?|print(?:out)?s?)\b"
)
EXTRACTION = re.compile(r"\b(extract|parse|read (?:the )?(?:pdf|document|file)s?|ocr)\b")
COUNT = re.compile(
    r"\b(?:last|latest|most recent|previous|past|recent|first|top)\s+"
    r"(\d{1,3}|" + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True)) + r")\b"
)
SINGULAR = re.compile(r"\b(?:last|latest|most recent|current|newest|next)\b")
# The job's leading verb → the verb its name starts with.
VERBS = {
    "get": "Fetch",
    "fetch": "Fetch",
    "list": "Fetch",
    "show": "Fetch",
    "find": "Fetch",
    "retrieve": "Fetch",
    "pull": "Fetch",
    "grab": "Fetch",
    "collect": "Fetch",
    "check": "Check",
    "download": "Download",
    "export": "Download",
    "pay": "Pay",
    "book": "Book",
    "cancel": "Cancel",
    "submit": "Submit",
    "upload": "Upload",
    "update": "Update",
    "send": "Send",
}
WRITE_VERBS = {"Pay", "Book", "Cancel", "Submit", "Upload", "Update", "Send"}
# Words about the date range, not fields of the records ("between two dates").
RANGE_WORDS = re.compile(
    r"between (?:two |the |given )?dates|date range|(?:start|end|from|to) dates?|\bsince \w+"
)


@dataclass
class TaskDraft:
    """A proposed definition for review; ``notes`` say what was read from the description."""

    name: str
    prompt: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    storage: dict[str, Any]
    # Seed 000: read or write, and the scope within it (tasks.models.Task.Type / Scope).
    type: str = "read"
    scope: str = "retrieve_metadata"
    drafted_by: str = "built-in drafter"
    notes: list[str] = field(default_factory=list)

    def check(self, *, timeout_seconds: int = 1800) -> None:
        """Raise ``TaskDefinitionInvalid`` when the draft would not be accepted as a task."""
        definitions.task_definition_check(
            input_schema=self.input_schema,
            output_schema=self.output_schema,
            storage=definitions.storage_normalize(self.storage),
            timeout_seconds=timeout_seconds,
        )


def _count(text: str) -> int | None:
    match = COUNT.search(text)
    if match is None:
        return None
    word = match.group(1)
    value = int(word) if word.isdigit() else NUMBER_WORDS[word]
    return max(1, min(value, MAX_COUNT))


def _kind(text: str) -> tuple[Kind | None, bool]:
    """The kind of record asked for (the earliest mentioned) and whether it is plural."""
    found: list[tuple[int, Kind, str]] = []
    for kind in KINDS:
        match = re.search(kind.pattern, text)
        if match:
            found.append((match.start(), kind, match.group(0)))
    if not found:
        return None, False
    # "balance" also appears inside "closing balance" of a statement: prefer a document kind
    # when both are named.
    found.sort(key=lambda item: (item[1].key == "balance", item[0]))
    _, kind, word = found[0]
    every = re.search(r"\b(every|all|each|any)\b", text) is not None
    return kind, every or (word.endswith("s") and not word.endswith("ss"))


def _qualifier(text: str, kind: Kind) -> str:
    """The word naming what the record is about ("electricity" in "electricity bills")."""
    first = re.search(kind.pattern, text)
    assert first is not None  # the kind was recognised from this pattern
    before = re.findall(r"[a-z0-9-]+", text[: first.start()])
    if not before:
        return ""
    word = before[-1]
    if word == "card" and len(before) > 1 and before[-2] == "credit":
        word = "credit card"
    skip = (
        {
            "my",
            "our",
            "the",
            "last",
            "latest",
            "recent",
            "all",
            "any",
            "new",
            "previous",
            "past",
            "and",
            "of",
            "their",
            "each",
            "every",
            "most",
            "unpaid",
            "open",
            "monthly",
            "current",
            "upcoming",
            "future",
        }
        | set(NUMBER_WORDS)
        | set(VERBS)
    )
    return "" if word in skip or word.isdigit() else word


def _output_fields(text: str, kind: Kind | None) -> list[str]:
    text = RANGE_WORDS.sub(" ", text)
    named: list[tuple[int, str]] = []
    taken: list[tuple[int, int]] = []
    for pattern, name in PHRASES:
        for match in re.finditer(pattern, text):
            span = match.span()
            if any(start < span[1] and span[0] < end for start, end in taken):
                continue
            taken.append(span)
            named.append((span[0], name))
    # The kind's own word ("balance" in "get my balances") is not a field of itself, except
    # for balances, whose figure is the point.
    fields = []
    for _, name in sorted(named):
        if name not in fields:
            fields.append(name)
            fields.extend(c for c in COMPANIONS.get(name, ()) if c not in fields)
    if kind is not None and kind.key != "balance":
        fields = [f for f in fields if f != kind.key]
    if kind is not None and kind.key == "balance" and "balance" not in fields:
        fields.insert(0, "balance")
    # "date" alongside a specific date is the same thing said twice.
    if "date" in fields and any(f != "date" and FIELDS[f].get("format") == "date" for f in fields):
        fields.remove("date")
    generic = {"date", "balance"}
    if not fields or (kind is not None and set(fields) <= generic):
        defaults = kind.default_fields if kind else ("title", "date")
        fields += [f for f in defaults if f not in fields]
    return fields


def _verb(text: str) -> str:
    for word in re.findall(r"[a-z]+", text)[:4]:
        if word in VERBS:
            return VERBS[word]
    return "Fetch"


def _name(description: str, kind: Kind | None, plural: bool, count: int | None, text: str) -> str:
    verb = _verb(text)
    if kind is None:
        words = re.sub(r"\s+", " ", description.strip().rstrip(".")).split(" ")
        name = " ".join(words[:8])
        return (name[:1].upper() + name[1:])[:200] or "New task"
    qualifier = _qualifier(text, kind)
    noun = " ".join(filter(None, [qualifier, kind.plural if plural or count else kind.singular]))
    if count and count > 1:
        return f"{verb} the last {count} {noun}"
    if count == 1 or not plural:
        return f"{verb} the latest {noun}"
    return f"{verb} {noun}"


def _describe(fields: list[str]) -> str:
    words = [f.replace("_", " ") for f in fields]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def task_draft_builtin(description: str) -> TaskDraft:
    """Draft a definition from the description with the built-in rules (no model)."""
    cleaned = re.sub(r"\s+", " ", description).strip()
    text = cleaned.lower()
    kind, plural = _kind(text)
    count = _count(text)
    notes: list[str] = []
    if kind:
        notes.append(f"Recognised the job: {kind.plural}.")
    else:
        notes.append("No familiar kind of record recognised: check the output schema.")

    fields = _output_fields(text, kind)
    item = {
        "type": "object",
        "properties": {name: dict(FIELDS[name]) for name in fields},
        "required": [f for f in fields if f in ("amount", "amount_due", "balance")][:1],
    }
    if not item["required"]:
        del item["required"]
    notes.append(f"Fields returned: {_describe(fields)}.")

    input_properties: dict[str, Any] = {}
    required_inputs: list[str] = []
    tokenized: list[str] = []
    for pattern, prop, schema, secret in INPUTS:
        if re.search(pattern, text) and prop not in input_properties:
            input_properties[prop] = dict(schema)
            required_inputs.append(prop)
            if secret:
                tokenized.append(prop)
    if tokenized:
        notes.append(f"Tokenized input (kept in the vault): {', '.join(tokenized)}.")

    many = bool(plural or (count and count > 1))
    if count and many:
        input_properties["count"] = {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_COUNT,
            "default": count,
            "description": f"How many {kind.plural if kind else 'items'} to return, newest first.",
        }
        notes.append(f"“{count}” became the count input (default {count}).")
    if DATE_RANGE.search(text):
        input_properties["start_date"] = {
            **DATE,
            "description": "Only include items on or after this date.",
        }
        input_properties["end_date"] = {
            **DATE,
            "description": "Only include items on or before this date.",
        }
        notes.append("A date range became start_date and end_date inputs.")

    input_schema: dict[str, Any] = {"type": "object", "properties": input_properties}
    if required_inputs:
        input_schema["required"] = required_inputs
    if tokenized:
        input_schema["tokenized"] = tokenized

    list_name = kind.plural if kind else "items"
    if many:
        array: dict[str, Any] = {"type": "array", "items": item}
        if count:
            array["maxItems"] = count
        output_schema: dict[str, Any] = {
            "type": "object",
            "properties": {list_name: array},
            "required": [list_name],
        }
    else:
        output_schema = {"type": "object", **{k: v for k, v in item.items() if k != "type"}}

    # Asking for "documents" is asking for the files themselves.
    wants_files = bool(FILES.search(text)) or (kind is not None and kind.key == "document")
    extraction = bool(EXTRACTION.search(text))
    storage: dict[str, Any] = dict(definitions.STORAGE_DEFAULTS)
    if wants_files or extraction:
        storage["enabled"] = True
        notes.append("Files are wanted: storage is on, so documents are captured.")
        if extraction:
            storage["extraction"] = True
            storage["extraction_schema"] = {
                "type": "object",
                "properties": {name: dict(FIELDS[name]) for name in fields},
            }
            notes.append("Extraction is on, with the same fields as the output.")
    elif kind is not None and kind.files:
        notes.append(
            f"Storage is off; turn it on to keep a copy of each {kind.singular} as a file."
        )

    noun = (kind.plural if many else kind.singular) if kind else "what is asked"
    lines = [
        "Log in to the website with the credential provided.",
        cleaned if cleaned[-1:] in ".?!" else cleaned + ".",
    ]
    if kind:
        where = "the billing, documents or history section" if kind.files else "the account"
        lines.append(f"Find the {noun} in {where}.")
    if many:
        limit = " (as many as the count input says, newest first)" if count else ""
        lines.append(
            f"Return them as the {list_name} list{limit}, each with its {_describe(fields)}."
        )
    else:
        lines.append(f"Return its {_describe(fields)}.")
    if "start_date" in input_properties:
        lines.append("Only include items between start_date and end_date when they are given.")
    if storage["enabled"]:
        lines.append(f"Download each {kind.singular if kind else 'document'} as a file (PDF).")
    lines.append("Dates as YYYY-MM-DD; amounts as plain numbers without currency symbols.")
    verb = _verb(text)
    job_type = "write" if verb in WRITE_VERBS else "read"
    job_type, scope = definitions.task_kind(
        type=job_type, scope=None, storage=storage, input_schema=input_schema
    )
    if job_type == "write":
        notes.append(f"“{verb.lower()}” makes this a write job: the agent acts on the site.")
    draft = TaskDraft(
        name=_name(cleaned, kind, plural, count, text),
        prompt="\n".join(lines),
        input_schema=input_schema,
        output_schema=output_schema,
        storage=storage,
        type=job_type,
        scope=scope,
        notes=notes,
    )
    draft.check()
    return draft


# -- drafting with the agent's language model ----------------------------------------------

MODEL_INSTRUCTIONS = """You draft task definitions for Deck, where an agent logs into a website
with a user's credential and does a job there. From the user's description, answer with ONE
JSON object and nothing else:
{"name": short imperative name,
 "prompt": instructions for the agent in plain words (log in, where to look, what to return),
 "input_schema": JSON Schema 2020-12 object for the run input (counts, date ranges, account
   numbers the user passes; list secret properties such as card numbers in "tokenized"),
 "output_schema": JSON Schema 2020-12 object for what the run returns (dates as
   {"type": "string", "format": "date"}, amounts as numbers; a list of records as an array),
 "storage": {"enabled": true when files such as PDFs should be kept, "extraction": false},
 "type": "read" or "write",
 "notes": a list of short remarks for the person reviewing the draft}"""


def _model_settings(agent: Agent | None) -> dict[str, str] | None:
    """The agent's endpoint, model and key, else the deployment's (its key only for its own
    endpoint, as for runs); None when no model is configured."""
    base_url = (agent.llm_base_url if agent else "") or settings.DECK_LLM_BASE_URL
    model = (agent.llm_model if agent else "") or settings.DECK_LLM_MODEL
    if not base_url or not model:
        return None
    api_key = ""
    if agent is not None and agent.llm_api_key_token:
        api_key = vault_reveal(
            organization=agent.organization,
            token_id=agent.llm_api_key_token,
            purpose=LLM_API_KEY_PURPOSE,
        )
    elif base_url == settings.DECK_LLM_BASE_URL:
        api_key = settings.DECK_LLM_API_KEY
    return {"base_url": base_url, "model": model, "api_key": api_key}


def _json_object(text: str) -> dict[str, Any]:
    """The reply's JSON object, also when the model wrapped it in prose or a code fence."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise ValueError("the reply holds no JSON object")
    value = json.loads(text[start : end + 1])
    if not isinstance(value, dict):
        raise ValueError("the reply is not a JSON object")
    return value


def task_draft_model(description: str, *, llm: Mapping[str, str]) -> TaskDraft:
    """Ask the model for a draft; raises ``LlmError`` when the endpoint fails and
    ``ValueError`` / ``TaskDefinitionInvalid`` when its answer is not a usable definition."""
    reply = chat(
        llm,
        [
            {"role": "system", "content": MODEL_INSTRUCTIONS},
            {"role": "user", "content": description},
        ],
        extra={"temperature": 0},
    )
    data = _json_object(reply.content or "")
    given = data.get("storage")
    proposed: dict[str, Any] = given if isinstance(given, dict) else {}
    storage = {key: proposed[key] for key in definitions.STORAGE_DEFAULTS if key in proposed}
    input_schema = data.get("input_schema") or dict(definitions.EMPTY_INPUT_SCHEMA)
    job_type = data.get("type") if data.get("type") in ("read", "write") else None
    job_type, scope = definitions.task_kind(
        type=job_type,
        scope=None,
        storage=definitions.storage_normalize(storage),
        input_schema=input_schema if isinstance(input_schema, Mapping) else {},
    )
    notes = [str(note) for note in data.get("notes") or [] if note][:8]
    draft = TaskDraft(
        name=str(data.get("name") or "New task")[:200],
        prompt=str(data.get("prompt") or description)[:20_000],
        input_schema=input_schema,
        output_schema=data.get("output_schema") or dict(definitions.ANY_OUTPUT_SCHEMA),
        storage=definitions.storage_normalize(storage),
        type=job_type,
        scope=scope,
        drafted_by=f"agent's model ({llm['model']})",
        notes=notes,
    )
    draft.check()
    return draft


def task_draft(
    *, organization: Organization, description: str, agent_id: str | None = None
) -> TaskDraft:
    """A draft for review; reads only, writes nothing. The agent's language model drafts
    when one is configured (the agent's own or the deployment's); the built-in drafter
    otherwise, and also when the model fails or answers with an unusable definition."""
    agent = (
        Agent.objects.filter(organization=organization, pk=agent_id).first() if agent_id else None
    )
    llm = _model_settings(agent)
    if llm is None:
        return task_draft_builtin(description)
    try:
        return task_draft_model(description, llm=llm)
    except LlmError as error:
        problem = error.message
    except (ValueError, DeckError) as error:
        problem = f"its draft was not usable ({error})"
    logger.warning("Model drafting fell back to the built-in drafter: %s", problem)
    draft = task_draft_builtin(description)
    draft.notes.insert(0, f"The model could not draft this task: {problem}")
    return draft
