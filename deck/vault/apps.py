from __future__ import annotations

from django.apps import AppConfig
from django.core import checks


class VaultConfig(AppConfig):
    name = "deck.vault"
    label = "vault"
    verbose_name = "Vault"

    def ready(self) -> None:
        from deck.vault.checks import check_vault_keys

        checks.register(check_vault_keys, checks.Tags.security)
