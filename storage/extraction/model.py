"""Model-backed extraction through the agent's OpenAI-compatible client.

The prompt is the schema, the task's extraction prompt and the document's text; the answer
must be one JSON object that validates against the schema (null allowed for anything not
found). Anything else — no client, an unreachable endpoint, prose, invalid JSON, a schema
violation — is reported as ``error`` and the caller keeps the rule-based result.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from jsonschema.validators import validator_for

from deck.redaction import redact
from storage.extraction.document import Document

logger = logging.getLogger(__name__)

# Enough for a long statement; beyond it the model sees the beginning of the document.
MAX_DOCUMENT_CHARS = 60_000
SYSTEM = (
    "You extract structured data from business documents (bills, invoices, receipts, "
    "statements). Answer with exactly one JSON object that validates against the JSON Schema "
    "you are given, and nothing else. Use null for any field the document does not show; "
    "never invent values. Write dates as YYYY-MM-DD, numbers without currency symbols or "
    "thousands separators, currencies as ISO 4217 codes."
)


@dataclass
class ModelAnswer:
    data: dict[str, Any] | None
    error: str = ""


def document_prompt(document: Document, schema: dict[str, Any], prompt: str) -> str:
    pages: list[str] = []
    current = 0
    for line in document.lines:
        if line.page != current:
            current = line.page
            pages.append(f"--- page {current} ---")
        pages.append(line.text)
    text = "\n".join(pages)
    if len(text) > MAX_DOCUMENT_CHARS:
        text = text[:MAX_DOCUMENT_CHARS] + "\n[… document truncated …]"
    parts = [f"JSON Schema of the answer:\n{json.dumps(schema, indent=1)}"]
    if prompt.strip():
        parts.append(f"Guidance for this document type:\n{prompt.strip()}")
    parts.append(f"Document ({document.kind}, {document.pages} page(s)):\n{text}")
    return "\n\n".join(parts)


def parse_answer(content: str) -> Any:
    """The JSON object in a reply, tolerating a fenced code block or a sentence around it."""
    stripped = content.strip()
    fenced = re.search(r"```(?:json)?\s*(.*?)```", stripped, re.S)
    if fenced:
        stripped = fenced.group(1).strip()
    try:
        return json.loads(stripped)
    except json.JSONDecodeError:
        start, end = stripped.find("{"), stripped.rfind("}")
        if start >= 0 and end > start:
            return json.loads(stripped[start : end + 1])
        raise


def model_extract(
    *, document: Document, schema: dict[str, Any], prompt: str, model: dict[str, Any]
) -> ModelAnswer:
    """Ask the model; never raises for model trouble (the rules result stands instead)."""
    from storage.extraction.engine import nullable

    try:
        from tasks.agent.llm_client import chat
    except ImportError:
        return ModelAnswer(None, "Model-backed extraction needs tasks.agent.llm_client.")
    from tasks.agent.runtime import AgentFailure

    settings = {"timeout_seconds": 60.0, "max_retries": 1, **model}
    messages = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": document_prompt(document, schema, prompt)},
    ]
    try:
        reply = chat(settings, messages, extra={"temperature": 0})
    except AgentFailure as error:
        logger.warning("extraction model unavailable: %s", redact(str(error)))
        return ModelAnswer(None, f"The extraction model failed: {error}")
    try:
        answer = parse_answer(reply.content or "")
    except json.JSONDecodeError:
        return ModelAnswer(None, "The extraction model did not answer with JSON.")
    if not isinstance(answer, dict):
        return ModelAnswer(None, "The extraction model did not answer with a JSON object.")
    properties = schema.get("properties") or {}
    if properties:
        # Only the fields asked for; a chatty model's extra keys are dropped.
        answer = {name: answer.get(name) for name in properties}
    relaxed = nullable(schema)
    errors = list(validator_for(relaxed)(relaxed).iter_errors(answer))
    if errors:
        where = "/".join(str(part) for part in errors[0].absolute_path) or "(root)"
        return ModelAnswer(
            None, f"The extraction model's answer does not match the schema at {where}."
        )
    return ModelAnswer(answer)
