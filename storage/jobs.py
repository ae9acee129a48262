"""Storage jobs, queue ``default``: malware scans, extraction runs, the sweep and retention."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from storage.errors import ScanUnavailable
from storage.selectors import scans_overdue
from storage.services import run_extraction_execute, storage_purge, storage_scan
from tasks.models import TaskRun

logger = logging.getLogger(__name__)

SCAN_MAX_RETRIES = 3


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=SCAN_MAX_RETRIES)
def scan_storage_item(self: Any, item_id: str) -> str:
    """Scan one file. Duplicate deliveries are harmless (the item is claimed first); a
    scanner that cannot answer is retried with backoff, then the file is marked ``error``."""
    final = self.request.retries >= SCAN_MAX_RETRIES
    try:
        return storage_scan(item_id=item_id, final=final)
    except ScanUnavailable as exc:
        raise self.retry(exc=exc, countdown=5 * 2**self.request.retries) from exc


@shared_task(acks_late=True, ignore_result=True)
def extract_run(run_id: str) -> str:
    """Execute an extraction-purpose run (already ``running``): claimed by bumping its
    attempts from the value read, so of two deliveries only one extracts."""
    from tasks.execution import Heartbeat

    run = (
        TaskRun.objects.select_related("task", "organization")
        .filter(pk=run_id, status=TaskRun.Status.RUNNING)
        .first()
    )
    if run is None:
        return "skipped"
    claimed = TaskRun.objects.filter(
        pk=run_id, status=TaskRun.Status.RUNNING, attempts=run.attempts
    ).update(attempts=F("attempts") + 1, heartbeat_at=timezone.now())
    if not claimed:
        return "skipped"
    with Heartbeat(run.id):
        return run_extraction_execute(run=run)


@shared_task(ignore_result=True)
def sweep_storage() -> dict[str, int]:
    """Beat, every 30 s: publish again the scans whose job was lost. Idempotent."""
    overdue = scans_overdue()
    for item_id in overdue:
        scan_publish(item_id)
    return {"scans": len(overdue)}


@shared_task(ignore_result=True)
def purge_expired_storage() -> int:
    """Beat, hourly: delete files past DECK_STORAGE_RETENTION_DAYS (file and row)."""
    return storage_purge()


def scan_publish(item_id: str) -> None:
    """Never raises: a failed publish is left to ``sweep_storage``."""
    try:
        scan_storage_item.apply_async(
            args=(item_id,), retry=True, retry_policy=settings.DECK_PUBLISH_RETRY_POLICY
        )
    except Exception:
        logger.warning("Could not publish the scan of %s; the sweep will retry", item_id)


def extract_run_publish(run_id: str) -> None:
    """Never raises: if the publish fails, the run's silent heartbeat lets the run sweeper
    requeue it, and the worker that claims it extracts (``run_execute``)."""
    try:
        extract_run.apply_async(
            args=(run_id,), retry=True, retry_policy=settings.DECK_PUBLISH_RETRY_POLICY
        )
    except Exception:
        logger.warning("Could not publish extraction run %s; the sweeper will requeue it", run_id)
