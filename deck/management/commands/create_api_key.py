"""Mint an API key for an organization; the key is the last line of the output."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from deck.models import Organization
from deck.selectors import api_key_list
from deck.services import api_key_create, api_key_revoke


class Command(BaseCommand):
    help = "Create an API key for an organization and print it (shown only this once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True, help="The organization's slug.")
        parser.add_argument("--name", default="", help="A label for the key.")
        parser.add_argument(
            "--replace",
            action="store_true",
            help="First revoke the organization's active keys that have the same name.",
        )

    def handle(
        self, *args: Any, org: str, name: str = "", replace: bool = False, **options: Any
    ) -> None:
        organization = Organization.objects.filter(slug=org).first()
        if organization is None:
            known = ", ".join(Organization.objects.values_list("slug", flat=True)[:20])
            raise CommandError(
                f"No organization with slug {org!r}." + (f" Known: {known}." if known else "")
            )
        with transaction.atomic():
            revoked = 0
            if replace:
                previous = api_key_list(organization=organization).filter(
                    name=name, revoked_at__isnull=True
                )
                for api_key in previous:
                    api_key_revoke(organization=organization, key_id=api_key.id)
                    revoked += 1
            created = api_key_create(organization=organization, name=name)
        if revoked:
            self.stdout.write(f"Revoked {revoked} previous key(s) named {name!r}.")
        self.stdout.write(
            f"Created API key {created.api_key.prefix}… for {organization.name} "
            f"({organization.slug}). Keep it now; it cannot be shown again:"
        )
        self.stdout.write(created.raw_key)
