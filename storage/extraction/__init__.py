"""Document extraction: PDFs, spreadsheets, web pages, images and text → schema-shaped JSON.

    from storage.extraction import extract, ExtractionError, ExtractionResult
    result = extract(data=b"...", file_name="bill.pdf", content_type="application/pdf",
                     schema={...} | None, prompt="", model=None)

``result.data``: with a schema, every property present, values converted to their declared
type (dates ISO ``YYYY-MM-DD``, numbers, integers, booleans, ISO currency codes, enums), None
when not found; nested objects are dicts (their leaves None when not found), arrays of objects
come from the matching table (None when there is none). It validates against the schema with
null allowed wherever a value is typed (``engine.nullable``); values breaking a constraint
(pattern, maximum…) are None. Without a schema: ``{"fields": {label: value}, "tables":
[{"page", "header", "rows"}], "text_excerpt"}``.

``result.provenance``: ``{path: {"page", "text", "span", "derived"?}}`` for each filled leaf;
paths are "amount_due", "billing_period/start_date", "line_items/0/amount" ("fields/<label>"
without a schema); ``text`` is the source line, ``span`` the value's offsets in the document's
text (lines joined by newlines), ``derived`` marks computed values (a day count, an inferred
currency, the issuer at the top).

Also ``result.file_type`` (pdf, csv, xlsx, html, image, text), ``pages``, ``method`` (rules or
model) and ``warnings``. ``prompt`` can set conventions ("dates are day-first", "amounts in
CAD") and name labels ('amount_due is labelled "Montant net"'). ``model`` = ``{base_url,
model, api_key}`` asks an OpenAI-compatible model first (tasks.agent.llm_client) and keeps
the rule-based result when its answer is unusable.

``ExtractionError`` (code ``extraction_failed``): empty, unreadable, encrypted or unsupported
files, images without tesseract, an invalid schema. Pure and synchronous: call it outside
transactions.
"""

from __future__ import annotations

from storage.extraction.engine import ExtractionResult, extract, read_document
from storage.extraction.errors import ExtractionError

__all__ = ["ExtractionError", "ExtractionResult", "extract", "read_document"]
