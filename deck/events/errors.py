"""Errors raised by the events app; the API renders them in the error envelope."""

from __future__ import annotations

from deck.errors import DeckError, InvalidInput, NotFound, StateConflict

__all__ = ["DeckError", "DeliveryRefused", "InvalidInput", "NotFound", "StateConflict"]


class DeliveryRefused(Exception):
    """A destination's address may not be connected to (the SSRF guard). Raised at connect
    time and recorded as the delivery's error; never shown to the API as a request error."""
