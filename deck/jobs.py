from __future__ import annotations

from celery import shared_task

from deck.api.idempotency import idempotency_prune


@shared_task
def prune_idempotency_keys() -> int:
    """Beat, hourly: forget idempotency keys older than 24 hours. Idempotent."""
    return idempotency_prune()
