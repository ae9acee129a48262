"""Reads for organizations and API keys."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import QuerySet
from django.utils import timezone

from deck.models import ApiKey, Membership, Organization
from deck.services import API_KEY_PREFIX, api_key_hash

# last_used_at is advisory; writing it on every request would turn each read into a write.
_LAST_USED_RESOLUTION = timedelta(seconds=60)


def api_key_authenticate(raw_key: str) -> ApiKey | None:
    """The active key for a raw ``sk_live_…`` string, or None. Touches ``last_used_at``."""
    if not raw_key.startswith(API_KEY_PREFIX) or len(raw_key) > 200:
        return None
    api_key = (
        ApiKey.objects.select_related("organization")
        .filter(key_hash=api_key_hash(raw_key), revoked_at__isnull=True)
        .first()
    )
    if api_key is None:
        return None
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > _LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key


def api_key_list(*, organization: Organization) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(organization=organization).order_by("-created_at")


def membership_list(*, organization: Organization) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(organization=organization)
        .select_related("user")
        .order_by("created_at", "id")
    )


def membership_role(*, organization: Organization, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    return (
        Membership.objects.filter(organization=organization, user_id=user_id)
        .values_list("role", flat=True)
        .first()
    )
