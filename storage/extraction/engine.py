"""``extract``: one file + an extraction schema → JSON that validates, with provenance."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import jsonschema
from jsonschema.validators import validator_for

from storage.extraction.document import Document
from storage.extraction.errors import ExtractionError
from storage.extraction.readers import read
from storage.extraction.rules import Filler, Hints, Provenance

logger = logging.getLogger(__name__)

EXCERPT_CHARS = 2000


@dataclass
class ExtractionResult:
    """``data`` matches the schema (every property present, None when not found);
    ``provenance`` maps each filled field's path ("amount_due", "billing_period/start_date",
    "line_items/0/amount") to where it was read: ``{page, text, span}`` with ``text`` the
    source line and ``span`` the value's offsets in the document's text (``derived: true``
    when computed, e.g. a day count or an inferred currency)."""

    data: dict[str, Any]
    provenance: Provenance = field(default_factory=dict)
    file_type: str = ""  # the reader used: pdf, csv, xlsx, html, image, text
    pages: int = 0
    method: str = "rules"  # rules | model
    warnings: list[str] = field(default_factory=list)


def extract(
    *,
    data: bytes,
    file_name: str = "",
    content_type: str | None = None,
    schema: dict[str, Any] | None = None,
    prompt: str = "",
    model: dict[str, str] | None = None,
    document: Document | None = None,
) -> ExtractionResult:
    """Structured data from a document, guided by ``schema`` (generic fields and tables without).

    Raises ExtractionError when the file cannot be read or its type is unsupported. ``model``
    (``{base_url, model, api_key}``) asks an OpenAI-compatible model first and falls back to
    the rule-based result when its answer is unusable. ``document``: these bytes already read
    by ``read_document``, so a caller filling several schemas from one file reads it once.
    Pure: no database, no network unless ``model`` is given.
    """
    if schema is not None:
        _check_schema(schema)
    if document is None:
        document = read_document(data=data, file_name=file_name, content_type=content_type)
    if schema is None:
        generic = generic_extraction(document)
        return ExtractionResult(
            data=generic.data,
            provenance=generic.provenance,
            file_type=document.kind,
            pages=document.pages,
            warnings=list(document.warnings),
        )
    hints = Hints.from_prompt(prompt or "", schema)
    filler = Filler(document, hints)
    filled = filler.fill(schema)
    result = ExtractionResult(
        data=filled,
        provenance=filler.provenance,
        file_type=document.kind,
        pages=document.pages,
        warnings=list(document.warnings),
    )
    if model:
        from storage.extraction.model import model_extract

        answer = model_extract(document=document, schema=schema, prompt=prompt, model=model)
        if answer.data is not None:
            rules_data = result.data
            result.data = answer.data
            result.provenance = _provenance_for(
                answer.data, rules_data, filler.provenance, document
            )
            result.method = "model"
        else:
            result.warnings.append(answer.error or "The model's answer was unusable.")
    result.data, dropped = conform(result.data, schema)
    for path in dropped:
        result.provenance.pop(path, None)
        result.warnings.append(f"{path or '(root)'} did not validate against the schema: dropped.")
    return result


def read_document(*, data: bytes, file_name: str = "", content_type: str | None = None) -> Document:
    """The file read into the common document model (the slow part: PDF text, OCR);
    raises ExtractionError like ``extract``."""
    return read(data, file_name, content_type)


def _check_schema(schema: dict[str, Any]) -> None:
    if not isinstance(schema, dict) or (
        schema.get("type") not in {None, "object"} and "properties" not in schema
    ):
        raise ExtractionError("The extraction schema must be a JSON Schema object.")
    try:
        validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as error:
        raise ExtractionError(f"The extraction schema is invalid: {error.message}.") from error


# --- Validation -----------------------------------------------------------------------------


def nullable(schema: Any) -> Any:
    """The schema with null allowed wherever a value is typed: "not found" is always valid."""
    if isinstance(schema, list):
        return [nullable(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: nullable(value) for key, value in schema.items()}
    declared = out.get("type")
    if isinstance(declared, str) and declared != "null":
        out["type"] = [declared, "null"]
    elif isinstance(declared, list) and "null" not in declared:
        out["type"] = [*declared, "null"]
    if isinstance(out.get("enum"), list) and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]
    for key in ("anyOf", "oneOf"):
        if isinstance(out.get(key), list):
            out[key] = [*out[key], {"type": "null"}]
    if "const" in out:
        out = {"anyOf": [{"const": out.pop("const")}, {"type": "null"}], **out}
    return out


def conform(data: dict[str, Any], schema: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``data`` made valid by nulling (or, in arrays, removing) whatever fails validation."""
    relaxed = nullable(schema)
    validator = validator_for(relaxed)(relaxed)
    dropped: list[str] = []
    for _ in range(50):
        errors = sorted(validator.iter_errors(data), key=lambda e: -len(e.absolute_path))
        if not errors:
            return data, dropped
        path = list(errors[0].absolute_path)
        if not path:
            if errors[0].validator == "required":
                required: Any = errors[0].validator_value
                for name in required:
                    data.setdefault(name, None)
                continue
            # The root itself fails (additionalProperties, a combinator…): nothing to keep.
            dropped.append("")
            return dict.fromkeys((schema.get("properties") or {}).keys()), dropped
        _null(data, path)
        dropped.append("/".join(str(part) for part in path))
    raise ExtractionError("The extracted data could not be made to match the schema.")


def _null(data: Any, path: list[Any]) -> None:
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if isinstance(parent, list):
        parent[last] = None
    else:
        parent[last] = None


def _provenance_for(
    data: dict[str, Any], rules_data: dict[str, Any], rules: Provenance, document: Document
) -> Provenance:
    """Provenance for a model's answer: the rules' record where both agree on the value,
    else the first place the value's text appears in the document (none when it does not)."""
    out: Provenance = {}

    def rule_value(path: list[str]) -> Any:
        value: Any = rules_data
        for part in path:
            if isinstance(value, dict):
                value = value.get(part)
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                return None
        return value

    def visit(value: Any, path: list[str]) -> None:
        if isinstance(value, dict):
            for key, child in value.items():
                visit(child, [*path, key])
            return
        if isinstance(value, list):
            for index, child in enumerate(value):
                visit(child, [*path, str(index)])
            return
        if value is None:
            return
        key = "/".join(path)
        if key in rules and rule_value(path) == value:
            out[key] = rules[key]
            return
        needle = str(value)
        index = document.text.find(needle)
        if index >= 0:
            line = document.line_at(index)
            if line is not None:
                out[key] = {
                    "page": line.page,
                    "text": line.text,
                    "span": [index, index + len(needle)],
                }

    visit(data, [])
    return out


# --- Without a schema -----------------------------------------------------------------------


@dataclass
class Generic:
    data: dict[str, Any]
    provenance: Provenance


def generic_extraction(document: Document) -> Generic:
    """Labelled values and tables as JSON: {fields, tables, text_excerpt}."""
    header_starts = {
        cell.start for table in document.tables if len(table.rows) > 1 for cell in table.header
    }
    table_cells = {
        cell.start for table in document.tables for row in table.rows for cell in row if cell
    }
    fields: dict[str, str] = {}
    provenance: Provenance = {}
    for key_value in document.key_values:
        if key_value.kind == "below" and key_value.label_start in header_starts:
            continue
        if key_value.kind == "column" and key_value.start in table_cells:
            continue
        label = key_value.label
        if label in fields:
            if fields[label] == key_value.value:
                continue
            suffix = 2
            while f"{label} ({suffix})" in fields:
                suffix += 1
            label = f"{label} ({suffix})"
        fields[label] = key_value.value
        provenance[f"fields/{label}"] = {
            "page": key_value.page,
            "text": key_value.line,
            "span": [key_value.start, key_value.end],
        }
    tables = [
        {
            "page": table.page,
            "header": [cell.text for cell in table.header],
            "rows": [[cell.text if cell else "" for cell in row] for row in table.rows],
        }
        for table in document.tables
    ]
    excerpt = document.text[:EXCERPT_CHARS]
    return Generic(
        data={"fields": fields, "tables": tables, "text_excerpt": excerpt},
        provenance=provenance,
    )
