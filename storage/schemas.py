"""How storage items look in the API and in ``storage.created`` event payloads."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Schema
from pydantic import Field

from storage.models import StorageItem
from storage.signing import signed_url


class StorageSummary(Schema):
    id: str
    object: Literal["storage"] = "storage"
    file_name: str
    file_type: str
    file_size: int
    purpose: str
    created_at: datetime


class StorageOut(StorageSummary):
    extraction: dict[str, Any] | None
    url: str | None = Field(None, description="Signed download URL; re-fetch for a fresh one.")
    task_run_id: str


def storage_summary(item: StorageItem) -> dict[str, Any]:
    """The lightweight form a task run carries."""
    return {
        "id": item.id,
        "object": "storage",
        "file_name": item.file_name,
        "file_type": item.file_type,
        "file_size": item.file_size,
        "purpose": item.purpose,
        "created_at": item.created_at,
    }


def storage_representation(item: StorageItem, *, with_url: bool = True) -> dict[str, Any]:
    """The full item; ``url`` is a fresh signed link unless ``with_url`` is off (events)."""
    data = {**storage_summary(item), "extraction": item.extraction, "task_run_id": item.task_run_id}
    if with_url:
        data["url"] = signed_url(
            path=item.file.name or "",
            organization_id=item.organization_id,
            file_name=item.file_name,
            content_type=item.file_type,
        )
    return data


def storage_event_data(item: StorageItem) -> dict[str, Any]:
    return StorageOut.model_validate(storage_representation(item, with_url=False)).model_dump(
        mode="json", exclude_unset=True
    )
