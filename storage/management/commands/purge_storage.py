from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from storage.services import storage_purge


class Command(BaseCommand):
    help = (
        "Delete stored files (file and row) past retention now: those whose retention "
        "(DECK_STORAGE_RETENTION_DAYS) has run out, or with --older-than-days all older."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than-days",
            type=int,
            default=None,
            help="Delete every file stored more than this many days ago.",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Only count what would be deleted."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["older_than_days"]
        if days is not None and days < 0:
            self.stderr.write("--older-than-days must be 0 or more.")
            raise SystemExit(2)
        older_than = timedelta(days=days) if days is not None else None
        count = storage_purge(older_than=older_than, dry_run=options["dry_run"])
        rule = (
            f"stored more than {days} days ago"
            if days is not None
            else f"past retention ({settings.DECK_STORAGE_RETENTION_DAYS} days)"
        )
        verb = "would be deleted" if options["dry_run"] else "deleted"
        self.stdout.write(f"{count} file(s) {rule} {verb}.")
