"""Errors raised by the tasks app; the API renders them in the error envelope."""

from __future__ import annotations

from deck.errors import DeckError, InvalidInput, NotFound, StateConflict

__all__ = ["DeckError", "InvalidInput", "NotFound", "StateConflict", "TaskDefinitionInvalid"]


class TaskDefinitionInvalid(InvalidInput):
    """A task's schemas, tokenized fields, file inputs, storage or settings are inconsistent."""
