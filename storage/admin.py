from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from storage.models import StorageItem

FIELDS = (
    "id",
    "organization",
    "task_run",
    "task",
    "credential",
    "file_name",
    "file_type",
    "file_size",
    "purpose",
    "stored_as",
    "sha256",
    "scan_status",
    "scan_detail",
    "extraction",
    "extraction_error",
    "dedup_key",
    "expires_at",
    "created_at",
    "updated_at",
)


@admin.register(StorageItem)
class StorageItemAdmin(admin.ModelAdmin):
    """Metadata only: the file's contents are never shown inline (download via the API's
    signed url), and its name is not a link to the file."""

    list_display = [
        "id",
        "file_name",
        "file_type",
        "file_size",
        "purpose",
        "scan_status",
        "organization",
        "created_at",
    ]
    list_filter = ["purpose", "scan_status", "organization"]
    search_fields = ["id", "file_name", "task_run__id", "sha256"]
    fields = FIELDS
    # Everything but the retention date reads only: files change through their lifecycle.
    readonly_fields = [name for name in FIELDS if name != "expires_at"]
    raw_id_fields = ["task_run", "task", "credential"]

    @admin.display(description="Stored as")
    def stored_as(self, item: StorageItem) -> str:
        return item.file.name or ""

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Files arrive through runs (captures and file inputs), never by hand.
        return False
