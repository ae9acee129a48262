from __future__ import annotations

from typing import Any

from deck.events.models import Event


def event_record(*, organization_id: str, type: str, data: dict[str, Any]) -> Event:
    """Call inside the transaction of the change the event announces, so both commit or
    neither does."""
    return Event.objects.create(organization_id=organization_id, type=type, data=data)
