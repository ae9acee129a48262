"""Reads for events, event destinations and deliveries, always scoped to one organization."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db.models import QuerySet

from deck.events.errors import NotFound
from deck.events.models import Event, EventDelivery, EventDestination
from deck.models import Organization


def event_list(
    *,
    organization: Organization,
    types: Sequence[str] = (),
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> QuerySet[Event]:
    events = Event.objects.filter(organization=organization)
    if types:
        events = events.filter(type__in=list(types))
    if created_after:
        events = events.filter(created_at__gt=created_after)
    if created_before:
        events = events.filter(created_at__lt=created_before)
    return events


def event_get(*, organization: Organization, event_id: str) -> Event:
    event = Event.objects.filter(organization=organization, pk=event_id).first()
    if event is None:
        raise NotFound("event", event_id)
    return event


def event_destination_list(
    *, organization: Organization, status: str | None = None, type: str | None = None
) -> QuerySet[EventDestination]:
    destinations = EventDestination.objects.filter(organization=organization)
    if status:
        destinations = destinations.filter(status=status)
    if type:
        destinations = destinations.filter(type=type)
    return destinations


def event_destination_get(
    *, organization: Organization, destination_id: str, for_update: bool = False
) -> EventDestination:
    destinations = EventDestination.objects.filter(organization=organization)
    if for_update:
        destinations = destinations.select_for_update()
    destination = destinations.filter(pk=destination_id).first()
    if destination is None:
        raise NotFound("event_destination", destination_id)
    return destination


def event_delivery_list(
    *,
    organization: Organization,
    destination_id: str,
    status: str | None = None,
    type: str | None = None,
) -> QuerySet[EventDelivery]:
    destination = event_destination_get(organization=organization, destination_id=destination_id)
    deliveries = EventDelivery.objects.filter(
        organization=organization, destination=destination
    ).select_related("event")
    if status:
        deliveries = deliveries.filter(status=status)
    if type:
        deliveries = deliveries.filter(event__type=type)
    return deliveries


def event_delivery_get(
    *, organization: Organization, destination_id: str, delivery_id: str
) -> EventDelivery:
    delivery = (
        event_delivery_list(organization=organization, destination_id=destination_id)
        .filter(pk=delivery_id)
        .first()
    )
    if delivery is None:
        raise NotFound("event_delivery", delivery_id)
    return delivery
