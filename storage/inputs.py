"""File inputs of a run (seed 002): checked before the run exists, stored as storage items.

``file_inputs_parse`` decodes and checks every file field of a run input synchronously (bad
base64 or an unknown ``storage_id`` → 400 ``file_invalid``, too big → 413
``file_too_large``); ``file_inputs_stage`` writes the files (slow I/O, before the run's
transaction); ``file_inputs_attach`` saves their rows inside it, and the stored input keeps
only ``{purpose, file_name, content_type, storage_id}``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import mimetypes
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from deck.events.services import event_record
from deck.models import Organization
from storage.errors import FileInvalid, FileTooLarge, InvalidInput
from storage.models import StorageItem
from storage.schemas import storage_event_data
from tasks.definitions import file_inputs
from tasks.models import TaskRun

DEFAULT_CONTENT_TYPE = "application/octet-stream"
BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


@dataclass
class FileInput:
    field: str
    purpose: str
    file_name: str
    content_type: str
    data: bytes


def content_type_for(file_name: str, given: Any = None) -> str:
    if isinstance(given, str) and given.strip():
        return given.strip()[:255]
    guessed, _ = mimetypes.guess_type(file_name)
    return guessed or DEFAULT_CONTENT_TYPE


def _too_large(field: str, size: int) -> FileTooLarge:
    limit = settings.DECK_FILE_INPUT_MAX_BYTES
    return FileTooLarge(
        f"{field} is {size} bytes; files may be at most {limit} bytes.", field=field
    )


def _decode(field: str, data: Any) -> bytes:
    if not isinstance(data, str):
        raise FileInvalid(f"{field}.data must be a base64 string.", field=field)
    text = "".join(data.split())  # line-wrapped base64 (MIME style) is still base64
    # Refuse an oversized file from its encoded length, before decoding it in memory.
    estimate = len(text) * 3 // 4 - text[-2:].count("=")
    if estimate > settings.DECK_FILE_INPUT_MAX_BYTES:
        raise _too_large(field, estimate)
    invalid = FileInvalid(f"{field}.data is not valid base64.", field=field)
    # b64decode(validate=True) still accepts surplus padding; the alphabet, the padding and
    # the length are checked here.
    if len(text) % 4 or not BASE64.fullmatch(text):
        raise invalid
    try:
        decoded = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise invalid from exc
    if not decoded:
        raise FileInvalid(f"{field}.data is empty.", field=field)
    return decoded


def _reused(organization: Organization, field: str, storage_id: Any) -> StorageItem:
    item = (
        StorageItem.objects.filter(organization=organization, pk=storage_id).first()
        if isinstance(storage_id, str)
        else None
    )
    if item is None:
        raise FileInvalid(f"{field}.storage_id names no file of this organization.", field=field)
    if item.file_size > settings.DECK_FILE_INPUT_MAX_BYTES:
        raise _too_large(field, item.file_size)
    return item


def file_inputs_parse(
    *, organization: Organization, input_schema: Mapping[str, Any], input: Mapping[str, Any]
) -> list[FileInput]:
    """Every file input of ``input``, decoded and checked; raises before anything is stored.
    A ``storage_id`` must name one of the organization's items; its bytes are read here so
    that the run gets its own copy."""
    declared = file_inputs(input_schema)
    found: list[FileInput] = []
    for name, purpose in declared.items():
        value = input.get(name)
        if value is None:
            continue
        field = f"input.{name}"
        if not isinstance(value, Mapping):
            raise InvalidInput(f"{field} must be a file object.", field=field)
        if value.get("purpose", purpose) != purpose:
            raise InvalidInput(f"{field}.purpose must be {purpose!r}.", field=field)
        has_data, has_id = value.get("data") is not None, value.get("storage_id") is not None
        if has_data == has_id:
            raise FileInvalid(f"{field} needs either data or storage_id (not both).", field=field)
        if has_id:
            item = _reused(organization, field, value["storage_id"])
            file_name = str(value.get("file_name") or item.file_name)
            content_type = content_type_for(file_name, value.get("content_type") or item.file_type)
            try:
                with item.file.open("rb") as handle:
                    data = handle.read()
            except OSError as exc:
                raise FileInvalid(
                    f"{field}.storage_id names a file that is no longer stored.", field=field
                ) from exc
        else:
            given_name = value.get("file_name")
            if not isinstance(given_name, str) or not given_name.strip():
                raise FileInvalid(f"{field}.file_name is required.", field=field)
            file_name = given_name
            data = _decode(field, value["data"])
            content_type = content_type_for(file_name, value.get("content_type"))
        found.append(FileInput(field, purpose, file_name.strip()[:255], content_type, data))
    extraction = [f for f in found if f.purpose == StorageItem.Purpose.EXTRACTION]
    if len(extraction) > 1:
        raise InvalidInput(
            "A task accepts one extraction input per run.", field=extraction[1].field
        )
    expected = [name for name, purpose in declared.items() if purpose == "extraction"]
    if expected and not extraction:
        raise InvalidInput(
            f"This task extracts a file given as input: send input.{expected[0]}.",
            field=f"input.{expected[0]}",
        )
    return found


def file_inputs_stage(
    *,
    organization: Organization,
    run_id: str,
    task_id: str,
    credential_id: str | None,
    files: Iterable[FileInput],
) -> list[tuple[FileInput, StorageItem]]:
    """Writes each file under its item's path (slow I/O, outside any transaction); the rows
    are saved by ``file_inputs_attach``. On failure, whatever was written is removed."""
    staged: list[tuple[FileInput, StorageItem]] = []
    expires_at = timezone.now() + timedelta(days=settings.DECK_STORAGE_RETENTION_DAYS)
    try:
        for file in files:
            item = StorageItem(
                organization=organization,
                task_run_id=run_id,
                task_id=task_id,
                credential_id=credential_id,
                file_name=file.file_name,
                file_type=file.content_type,
                file_size=len(file.data),
                purpose=file.purpose,
                sha256=hashlib.sha256(file.data).hexdigest(),
                expires_at=expires_at,
            )
            item.file.save(file.file_name, ContentFile(file.data), save=False)
            staged.append((file, item))
    except BaseException:
        files_discard(item for _, item in staged)
        raise
    return staged


def files_discard(items: Iterable[StorageItem]) -> None:
    """Removes written files whose rows never came to be (a refused or failed run)."""
    for item in items:
        if item.file.name:
            with contextlib.suppress(OSError):
                default_storage.delete(item.file.name)


def file_inputs_reference(
    *, staged: list[tuple[FileInput, StorageItem]], stored_input: dict[str, Any]
) -> None:
    """Replaces each file of the run input by its reference, so the bytes never sit in the
    run: ``{purpose, file_name, content_type, storage_id}``."""
    for file, item in staged:
        stored_input[file.field.removeprefix("input.")] = {
            "purpose": file.purpose,
            "file_name": item.file_name,
            "content_type": item.file_type,
            "storage_id": item.id,
        }


def file_inputs_attach(*, run: TaskRun, staged: list[tuple[FileInput, StorageItem]]) -> None:
    """Inside the run's transaction, after the run row: saves the items and announces the
    attachments (an extraction input is announced once it carries its extracted data)."""
    for _, item in staged:
        item.save(force_insert=True)
        if item.purpose == StorageItem.Purpose.ATTACHMENT:
            event_record(
                organization_id=run.organization_id,
                type="storage.created",
                data=storage_event_data(item),
            )
