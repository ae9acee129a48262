"""Switch a sandbox portal between its classic and redesigned markup."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from deck.errors import InvalidInput
from tasks.sandbox.accounts import sandbox_portals
from tasks.sandbox.models import PortalLayout
from tasks.sandbox.selectors import sandbox_layout
from tasks.sandbox.services import sandbox_layout_set


class Command(BaseCommand):
    help = "Show or set the layout (classic or redesign) a sandbox portal serves."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", choices=[portal.slug for portal in sandbox_portals()])
        parser.add_argument("layout", nargs="?", choices=PortalLayout.Layout.values)

    def handle(self, *args: Any, slug: str, layout: str | None = None, **options: Any) -> None:
        if layout is not None:
            try:
                sandbox_layout_set(slug=slug, layout=layout)
            except InvalidInput as exc:
                raise CommandError(str(exc)) from exc
        self.stdout.write(f"{slug}: {sandbox_layout(slug)}")
