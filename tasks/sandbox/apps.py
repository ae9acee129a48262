from __future__ import annotations

from django.apps import AppConfig


class SandboxConfig(AppConfig):
    """The demo portals under ``/sandbox/``: their own app so their tables and migrations
    never collide with the product's."""

    name = "tasks.sandbox"
    label = "sandbox"
    verbose_name = "Sandbox portals"
