"""Reads for storage items, always scoped to one organization."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from deck.models import Organization
from storage.errors import NotFound
from storage.models import StorageItem
from tasks.models import TaskRun

SCREENSHOTS_ROOT = "screenshots"


def storage_list(*, organization: Organization) -> QuerySet[StorageItem]:
    return StorageItem.objects.filter(organization=organization)


def storage_get(
    *, organization: Organization, storage_id: str, field: str | None = None
) -> StorageItem:
    item = storage_list(organization=organization).filter(pk=storage_id).first()
    if item is None:
        raise NotFound("storage", storage_id, field=field)
    return item


def run_storage_list(*, organization: Organization, run_id: str) -> QuerySet[StorageItem]:
    """A run's items; the run must be the organization's (else ``task_run_not_found``)."""
    if not TaskRun.objects.filter(organization=organization, pk=run_id).exists():
        raise NotFound("task_run", run_id)
    return storage_list(organization=organization).filter(task_run_id=run_id)


def download_owned(*, organization_id: str, path: str) -> bool:
    """Does the organization still own the object at ``path``? A storage item's file, or a
    run screenshot under ``screenshots/<organization>/<run>/…`` of one of its runs."""
    items = StorageItem.objects.filter(organization_id=organization_id, file=path)
    if items.exists():
        # A file the scan flagged stays stored for inspection but is never handed out.
        return items.exclude(scan_status=StorageItem.ScanStatus.INFECTED).exists()
    parts = path.split("/")
    if len(parts) < 3 or parts[0] != SCREENSHOTS_ROOT or parts[1] != organization_id:
        return False
    return TaskRun.objects.filter(organization_id=organization_id, pk=parts[2]).exists()


def scans_pending_attachments() -> QuerySet[StorageItem]:
    """Attachments that have not (yet) passed the malware scan."""
    return StorageItem.objects.filter(purpose=StorageItem.Purpose.ATTACHMENT).exclude(
        scan_status=StorageItem.ScanStatus.CLEAN
    )


def run_awaits_scans(*, run_id: str) -> bool:
    """Seed 002: an attachment run stays queued until every attachment passes the scan."""
    return scans_pending_attachments().filter(task_run_id=run_id).exists()


def runs_awaiting_scans() -> Q:
    """A filter on TaskRun: the runs ``run_awaits_scans`` would hold back."""
    return Q(Exists(scans_pending_attachments().filter(task_run_id=OuterRef("pk"))))


def run_extraction_failures(*, run_id: str) -> int:
    """How many of the run's files failed extraction (their ``extraction`` stays null)."""
    return (
        StorageItem.objects.filter(task_run_id=run_id, extraction__isnull=True)
        .exclude(extraction_error="")
        .count()
    )


def run_extraction_item(*, run_id: str) -> StorageItem | None:
    """The file an extraction-purpose run extracts (seed 002: one per run)."""
    return (
        StorageItem.objects.filter(task_run_id=run_id, purpose=StorageItem.Purpose.EXTRACTION)
        .order_by("created_at")
        .first()
    )


def dedup_seen(*, task_id: str, credential_id: str | None, dedup_key: str) -> bool:
    """Was a file with this dedup key captured before for the same task and credential?"""
    return StorageItem.objects.filter(
        task_id=task_id, credential_id=credential_id, dedup_key=dedup_key
    ).exists()


def run_is_extraction(*, run_id: str) -> bool:
    """An extraction-purpose run: the agent is skipped, its file is extracted instead."""
    return StorageItem.objects.filter(
        task_run_id=run_id, purpose=StorageItem.Purpose.EXTRACTION
    ).exists()


def scans_overdue(*, now: datetime | None = None, limit: int = 500) -> list[str]:
    """Pending scans whose job was lost (never published, or its worker died)."""
    now = now or timezone.now()
    lease = now - timedelta(seconds=settings.DECK_SCAN_LEASE_SECONDS)
    unclaimed = Q(scan_started_at__isnull=True, created_at__lt=now - timedelta(seconds=30))
    return list(
        StorageItem.objects.filter(unclaimed | Q(scan_started_at__lt=lease))
        .filter(scan_status=StorageItem.ScanStatus.PENDING)
        .values_list("pk", flat=True)[:limit]
    )
