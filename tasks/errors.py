"""Errors raised by the tasks app; the API renders them in the error envelope."""

from __future__ import annotations

from deck.errors import DeckError, InvalidInput, InvalidInputs, NotFound, StateConflict

__all__ = [
    "DeckError",
    "InvalidInput",
    "InvalidInputs",
    "NotFound",
    "SessionLimitExceeded",
    "StateConflict",
    "StorageConfigIncomplete",
    "TaskDefinitionInvalid",
]


class TaskDefinitionInvalid(InvalidInput):
    """A task's schemas, tokenized fields, file inputs, storage or settings are inconsistent."""


class SessionLimitExceeded(DeckError):
    status = 429
    type = "rate_limit"
    code = "session_limit_exceeded"


class StorageConfigIncomplete(DeckError):
    status = 422
    type = "storage"
    code = "deduplication_schema_missing"
