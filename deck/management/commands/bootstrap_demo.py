"""Create the demo organization and its owner login; safe to run any number of times."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from deck.models import Membership, Organization
from deck.services import membership_add, organization_create
from tasks.sandbox.services import sandbox_demo_ensure

DEMO_NAME = "Demo"
DEMO_SLUG = "demo"
DEMO_EMAIL = "demo@deck.local"


class Command(BaseCommand):
    help = (
        f"Ensure the demo organization ({DEMO_SLUG!r}) and its owner {DEMO_EMAIL} exist, "
        "with the sandbox sources, their credentials, the demo agent and the catalog tasks, "
        "then print the login."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--reset-password",
            action="store_true",
            help="Give the demo user a fresh random password and print it.",
        )

    def handle(self, *args: Any, reset_password: bool = False, **options: Any) -> None:
        user_model = get_user_model()
        with transaction.atomic():
            organization = Organization.objects.filter(slug=DEMO_SLUG).first()
            if organization is None:
                organization = organization_create(name=DEMO_NAME, slug=DEMO_SLUG)
            user, created = user_model.objects.get_or_create(
                username=DEMO_EMAIL, defaults={"email": DEMO_EMAIL}
            )
            # A local demo: its owner may also use the Django admin.
            user.is_staff = True
            user.is_superuser = True
            password = None
            if created or reset_password:
                password = secrets.token_urlsafe(12)
                user.set_password(password)
            user.save()
            membership_add(organization=organization, user=user, role=Membership.Role.OWNER)
            demo = sandbox_demo_ensure(organization=organization, public_url=settings.PUBLIC_URL)

        self.stdout.write(f"Organization: {organization.name} ({organization.slug})")
        self.stdout.write(f"Email: {DEMO_EMAIL}")
        if password is None:
            self.stdout.write("Password: unchanged (use --reset-password for a new one)")
        else:
            self.stdout.write(f"Password: {password}")
        self.stdout.write(
            f"Sandbox: {len(demo.sources)} sources, {len(demo.credentials)} credentials, "
            f"agent {demo.agent.name!r}, {len(demo.tasks)} tasks ({demo.created} new) "
            f"at {settings.PUBLIC_URL}/sandbox/"
        )
