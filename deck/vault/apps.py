from __future__ import annotations

from django.apps import AppConfig


class VaultConfig(AppConfig):
    name = "deck.vault"
    label = "vault"
    verbose_name = "Vault"
