"""``manage.py vault_rotate``: rewrap every data key under the active KEK."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from deck.vault.errors import VaultError
from deck.vault.keys import kek_active
from deck.vault.services import vault_rotate


class Command(BaseCommand):
    help = (
        "Rewrap every vault data key under the active key (the first of DECK_VAULT_KEYS). "
        "Keep the old keys listed after it until this has finished."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            rewrapped = vault_rotate()
        except VaultError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            self.style.SUCCESS(f"Rewrapped {rewrapped} data key(s) under key {kek_active().id}.")
        )
