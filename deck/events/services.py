from __future__ import annotations

from typing import Any

from deck.events.models import Event
from deck.models import Organization


def event_record(*, organization: Organization, type: str, data: dict[str, Any]) -> Event:
    """Call inside the transaction of the change the event announces, so both commit or
    neither does."""
    return Event.objects.create(organization=organization, type=type, data=data)
