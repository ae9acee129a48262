from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings

from deck.events.delivery import events_pump
from deck.events.services import event_destination_secrets_expire, events_prune


@shared_task(ignore_result=True)
def deliver_events() -> dict[str, int]:
    """Beat, every few seconds: fan new events out to their destinations and send what is
    due. Runs on many workers at once safely (rows are claimed with conditional updates);
    stops well before the next-but-one tick so ticks never pile up behind it."""
    budget = max(10.0, settings.DECK_EVENT_DELIVERY_INTERVAL_SECONDS * 4.0)
    return events_pump(budget_seconds=budget)


@shared_task(ignore_result=True)
def prune_events() -> dict[str, int]:
    """Beat, hourly: delete events past the retention period (their deliveries with them)
    and forget rotated signing secrets whose overlap has passed. Idempotent."""
    pruned = events_prune(older_than=timedelta(days=settings.DECK_EVENT_RETENTION_DAYS))
    return {"events": pruned, "secrets": event_destination_secrets_expire()}
