from __future__ import annotations

from django.apps import AppConfig


class DeckConfig(AppConfig):
    name = "deck"
    verbose_name = "Organizations and API keys"
