"""System check: a malformed ``DECK_VAULT_KEYS`` stops ``manage.py`` before anything runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.core.checks import CheckMessage, Error
from django.core.exceptions import ImproperlyConfigured

from deck.vault.keys import SETTING, kek_ring


def check_vault_keys(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    try:
        kek_ring()
    except ImproperlyConfigured as exc:
        return [
            Error(
                str(exc),
                hint=f"List comma-separated keys in {SETTING}, the active one first; make one "
                "with: python -c 'import secrets; print(secrets.token_urlsafe(32))'",
                id="vault.E001",
            )
        ]
    return []
