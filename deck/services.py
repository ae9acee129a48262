"""Writes for organizations, members and API keys."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from deck.errors import InvalidInput, NotFound
from deck.models import ApiKey, Membership, Organization

API_KEY_PREFIX = "sk_live_"
_PREFIX_SHOWN = len(API_KEY_PREFIX) + 6


def api_key_hash(raw_key: str) -> str:
    # Keys carry ~190 bits of randomness, so a fast unsalted hash is enough: nothing can be
    # brute-forced, and lookups stay a single indexed equality.
    return hashlib.sha256(raw_key.encode()).hexdigest()


@dataclass(frozen=True)
class CreatedApiKey:
    api_key: ApiKey
    raw_key: str


def organization_create(*, name: str, slug: str = "", owner: User | None = None) -> Organization:
    """Atomic: the organization and its owner membership are created together."""
    slug = slug or slugify(name)[:64]
    if not slug:
        raise InvalidInput("An organization needs a name.", field="name")
    with transaction.atomic():
        organization = Organization.objects.create(name=name, slug=slug)
        if owner is not None:
            Membership.objects.create(
                organization=organization, user=owner, role=Membership.Role.OWNER
            )
    return organization


def organization_rename(*, organization: Organization, name: str) -> Organization:
    """Renames only; the slug stays, since API clients and URLs may use it."""
    name = name.strip()
    if not name:
        raise InvalidInput("An organization needs a name.", field="name")
    if len(name) > 200:
        raise InvalidInput("The name is longer than 200 characters.", field="name")
    organization.name = name
    organization.save(update_fields=["name", "updated_at"])
    return organization


def membership_add(
    *, organization: Organization, user: User, role: str = Membership.Role.MEMBER
) -> Membership:
    """Idempotent: an existing membership keeps its row, with the role updated."""
    membership, _ = Membership.objects.update_or_create(
        organization=organization, user=user, defaults={"role": role}
    )
    return membership


def api_key_create(
    *, organization: Organization, name: str = "", created_by: User | None = None
) -> CreatedApiKey:
    """The raw key exists only in the returned value; the database keeps its hash."""
    raw_key = API_KEY_PREFIX + secrets.token_urlsafe(32).replace("-", "").replace("_", "")
    api_key = ApiKey.objects.create(
        organization=organization,
        name=name[:200],
        prefix=raw_key[:_PREFIX_SHOWN],
        key_hash=api_key_hash(raw_key),
        created_by=created_by if created_by is not None and created_by.pk else None,
    )
    return CreatedApiKey(api_key=api_key, raw_key=raw_key)


def api_key_revoke(*, organization: Organization, key_id: str) -> ApiKey:
    """Idempotent: revoking a revoked key keeps its first revocation time."""
    api_key = ApiKey.objects.filter(organization=organization, id=key_id).first()
    if api_key is None:
        raise NotFound("api_key", key_id)
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at", "updated_at"])
    return api_key
