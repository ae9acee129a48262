"""Checks on a task definition: its JSON Schemas, tokenized fields, file inputs, storage
configuration and settings. A task that passes can be run; one that fails names the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from tasks.errors import TaskDefinitionInvalid

FILE_PURPOSES = ("attachment", "extraction")
DEDUPLICATION_TYPES = ("string", "integer", "number", "boolean")
STORAGE_DEFAULTS: dict[str, Any] = {
    "enabled": False,
    "extraction": False,
    "extraction_schema": None,
    "extraction_prompt": None,
    "deduplication": False,
    "deduplication_schema": None,
}
EMPTY_INPUT_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}
ANY_OUTPUT_SCHEMA: dict[str, Any] = {"type": "object"}


def schema_check(schema: Any, *, field: str) -> None:
    """``schema`` is a JSON Schema 2020-12 document describing an object."""
    if not isinstance(schema, Mapping):
        raise TaskDefinitionInvalid(f"{field} must be a JSON Schema object.", field=field)
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in exc.absolute_path
        )
        raise TaskDefinitionInvalid(
            f"{field} is not valid JSON Schema 2020-12: {exc.message}", field=f"{field}{where}"
        ) from exc
    declared = schema.get("type")
    if declared is not None and declared != "object":
        raise TaskDefinitionInvalid(f"{field} must describe an object.", field=f"{field}.type")


def file_input_purpose(property_schema: Any) -> str | None:
    """``attachment`` / ``extraction`` when the property is a file input, else None."""
    if not isinstance(property_schema, Mapping):
        return None
    purpose = (property_schema.get("properties") or {}).get("purpose")
    if not isinstance(purpose, Mapping):
        return None
    value = purpose.get("const")
    if value is None and isinstance(purpose.get("enum"), list) and len(purpose["enum"]) == 1:
        value = purpose["enum"][0]
    return value if value in FILE_PURPOSES else None


def file_inputs(input_schema: Mapping[str, Any]) -> dict[str, str]:
    """Property name → purpose, for every file input of an input schema."""
    properties = input_schema.get("properties") or {}
    found = {name: file_input_purpose(schema) for name, schema in properties.items()}
    return {name: purpose for name, purpose in found.items() if purpose}


def tokenized_check(input_schema: Mapping[str, Any], files: Mapping[str, str]) -> None:
    tokenized = input_schema.get("tokenized")
    if tokenized is None:
        return
    field = "input_schema.tokenized"
    if not isinstance(tokenized, list) or not all(isinstance(n, str) for n in tokenized):
        raise TaskDefinitionInvalid(f"{field} must be a list of property names.", field=field)
    properties = input_schema.get("properties") or {}
    for index, name in enumerate(tokenized):
        if name not in properties:
            raise TaskDefinitionInvalid(
                f"{field} names {name!r}, which is not a property of input_schema.",
                field=f"{field}[{index}]",
            )
        if name in files:
            raise TaskDefinitionInvalid(
                f"{field} names the file input {name!r}; files are stored, not tokenized.",
                field=f"{field}[{index}]",
            )
    if len(set(tokenized)) != len(tokenized):
        raise TaskDefinitionInvalid(f"{field} lists a property twice.", field=field)


def storage_normalize(storage: Mapping[str, Any] | None) -> dict[str, Any]:
    return {**STORAGE_DEFAULTS, **{k: v for k, v in (storage or {}).items() if v is not None}}


def storage_check(storage: Mapping[str, Any]) -> None:
    if (storage["extraction"] or storage["deduplication"]) and not storage["enabled"]:
        raise TaskDefinitionInvalid(
            "storage.extraction and storage.deduplication need storage.enabled to be true.",
            field="storage.enabled",
        )
    if storage["extraction_schema"] is not None:
        schema_check(storage["extraction_schema"], field="storage.extraction_schema")
    dedup = storage["deduplication_schema"]
    if dedup is None:
        # Seed 002: a missing deduplication_schema is refused when a run starts (422), not here.
        return
    field = "storage.deduplication_schema"
    schema_check(dedup, field=field)
    properties = dedup.get("properties")
    if not isinstance(properties, Mapping) or not properties:
        raise TaskDefinitionInvalid(
            f"{field} needs a properties map with at least one field.", field=f"{field}.properties"
        )
    for name, prop in properties.items():
        kind = prop.get("type") if isinstance(prop, Mapping) else None
        if kind not in DEDUPLICATION_TYPES:
            raise TaskDefinitionInvalid(
                f"{field} property {name!r} must have a scalar type "
                f"({', '.join(DEDUPLICATION_TYPES)}); nested objects and arrays are not supported.",
                field=f"{field}.properties.{name}.type",
            )


def file_inputs_check(files: Mapping[str, str], storage: Mapping[str, Any]) -> None:
    purposes = set(files.values())
    if len(purposes) > 1:
        raise TaskDefinitionInvalid(
            "A task may declare attachment file inputs or extraction file inputs, not both.",
            field="input_schema.properties",
        )
    extraction_fields = [name for name, purpose in files.items() if purpose == "extraction"]
    if extraction_fields and not (
        storage["enabled"] and storage["extraction"] and storage["extraction_schema"]
    ):
        raise TaskDefinitionInvalid(
            f"The extraction file input {extraction_fields[0]!r} needs storage.enabled, "
            "storage.extraction and storage.extraction_schema.",
            field=f"input_schema.properties.{extraction_fields[0]}",
        )


def timeout_check(timeout_seconds: int) -> None:
    maximum = settings.DECK_TASK_TIMEOUT_MAX_SECONDS
    if not 1 <= timeout_seconds <= maximum:
        raise TaskDefinitionInvalid(
            f"settings.timeout_seconds must be between 1 and {maximum}.",
            field="settings.timeout_seconds",
        )


def task_definition_check(
    *,
    input_schema: Mapping[str, Any],
    output_schema: Mapping[str, Any],
    storage: Mapping[str, Any],
    timeout_seconds: int,
) -> None:
    """Raise ``TaskDefinitionInvalid`` naming the first inconsistency, if any."""
    schema_check(input_schema, field="input_schema")
    schema_check(output_schema, field="output_schema")
    files = file_inputs(input_schema)
    tokenized_check(input_schema, files)
    storage_check(storage)
    file_inputs_check(files, storage)
    timeout_check(timeout_seconds)


def task_kind(
    *,
    type: str | None,
    scope: str | None,
    storage: Mapping[str, Any],
    input_schema: Mapping[str, Any],
) -> tuple[str, str]:
    """The task's (type, scope): as given, the missing one inferred from the other, or both
    inferred from what the task does (attachment inputs upload, captured files are
    documents). A scope of the other type is an error naming ``scope``."""
    from tasks.models import Task  # the models module imports nothing from here

    if scope is not None:
        expected = Task.SCOPE_TYPES[Task.Scope(scope)]
        if type is not None and type != expected:
            raise TaskDefinitionInvalid(
                f"scope {scope!r} is a {expected.value} scope; a {type} task takes one of "
                + ", ".join(s.value for s, t in Task.SCOPE_TYPES.items() if t == type)
                + ".",
                field="scope",
            )
        return expected.value, scope
    uploads = "attachment" in file_inputs(input_schema).values()
    if type is None:
        type = Task.Type.WRITE if uploads else Task.Type.READ
    if type == Task.Type.WRITE:
        return type, (Task.Scope.UPLOAD_DOCUMENT if uploads else Task.Scope.TRIGGER_ACTION).value
    documents = storage.get("enabled")
    return type, (
        Task.Scope.RETRIEVE_DOCUMENTS if documents else Task.Scope.RETRIEVE_METADATA
    ).value
