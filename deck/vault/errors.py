"""Vault errors: one message for every failure, so callers learn nothing about why."""

from __future__ import annotations

from deck.errors import DeckError


class VaultError(DeckError):
    # An unrevealable token is a fault on our side (tampering, a lost key), never the caller's.
    status = 500
    type = "api"
    code = "vault_error"
