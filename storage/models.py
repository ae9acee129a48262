from __future__ import annotations

import posixpath

from django.core.exceptions import SuspiciousFileOperation
from django.db import models
from django.utils.text import get_valid_filename

from deck.ids import new_storage_id
from deck.models import Organization, Timestamped
from tasks.models import Credential, Task, TaskRun

FILE_NAME_MAX = 255


def storage_path(item: StorageItem, file_name: str) -> str:
    """``storage/<org>/<run>/<id>/<file_name>``: one folder per item, so two files with the
    same name in one run never collide and the organization owns the whole prefix."""
    try:
        safe = get_valid_filename(posixpath.basename(file_name.replace("\\", "/")))
    except SuspiciousFileOperation:  # nothing usable left of it ("..", "/", "")
        safe = "file"
    return f"storage/{item.organization_id}/{item.task_run_id}/{item.id}/{safe[:FILE_NAME_MAX]}"


class StorageItem(Timestamped):
    """A file a run captured or was given, with its scan verdict and extracted data."""

    class Purpose(models.TextChoices):
        OUTPUT = "output"  # captured by the agent during the run
        ATTACHMENT = "attachment"  # given as run input, handed to the agent
        EXTRACTION = "extraction"  # given as run input, extracted directly

    class ScanStatus(models.TextChoices):
        PENDING = "pending"
        CLEAN = "clean"
        INFECTED = "infected"
        ERROR = "error"

    id = models.CharField(primary_key=True, max_length=80, default=new_storage_id, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="storage_items"
    )
    task_run = models.ForeignKey(TaskRun, on_delete=models.CASCADE, related_name="storage_items")
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="storage_items")
    credential = models.ForeignKey(
        Credential,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="storage_items",
    )
    file_name = models.CharField(max_length=FILE_NAME_MAX)
    file_type = models.CharField(max_length=255)
    file_size = models.PositiveBigIntegerField()
    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    # The name in the default storage (local disk or S3); see storage_path.
    file = models.FileField(upload_to=storage_path, max_length=1024)
    sha256 = models.CharField(max_length=64)
    extraction = models.JSONField(null=True, blank=True)
    extraction_provenance = models.JSONField(default=dict, blank=True)
    extraction_error = models.TextField(blank=True)
    # A digest of the values the task's deduplication_schema read from the file; null when
    # deduplication is off or a value could not be read (such a file never counts as a copy).
    dedup_key = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    scan_status = models.CharField(
        max_length=16, choices=ScanStatus.choices, default=ScanStatus.PENDING
    )
    scan_detail = models.TextField(blank=True)
    # Set when a scan job claims the item; a claim older than the lease may be taken over.
    scan_started_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="stor_org_created"),
            models.Index(fields=["task_run", "-created_at"], name="stor_run_created"),
            models.Index(fields=["task", "credential", "dedup_key"], name="stor_dedup"),
            models.Index(fields=["scan_status", "scan_started_at"], name="stor_scan"),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.file_name}"
