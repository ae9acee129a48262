"""Writes for storage items: capture from a run (dedup → store → extract → event), the
extraction of files and of extraction-purpose runs, malware scans and their effect on
attachment runs, attachments for the agent, and retention.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from deck.events.services import event_record
from storage import selectors
from storage.errors import ScanUnavailable
from storage.inputs import content_type_for, files_discard
from storage.models import StorageItem
from storage.scanning import scan
from storage.schemas import storage_event_data
from tasks.models import Task, TaskRun

if TYPE_CHECKING:
    from storage.extraction.document import Document

logger = logging.getLogger(__name__)

Purpose = StorageItem.Purpose
ScanStatus = StorageItem.ScanStatus


class _Duplicate(Exception):
    """Lost the race to a concurrent capture of the same document."""


# -- extraction ---------------------------------------------------------------------------


def _extract(
    *,
    data: bytes,
    file_name: str,
    content_type: str,
    schema: Mapping[str, Any] | None,
    prompt: str,
    document: Document | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The extraction engine's (data, provenance); raises ``ExtractionError``."""
    from storage.extraction import extract

    result = extract(
        data=data,
        file_name=file_name,
        content_type=content_type,
        schema=dict(schema) if schema is not None else None,
        prompt=prompt,
        document=document,
    )
    return dict(result.data), dict(result.provenance)


def storage_extract(
    *,
    item: StorageItem,
    schema: Mapping[str, Any] | None,
    prompt: str = "",
    data: bytes | None,
    document: Document | None = None,
) -> StorageItem:
    """Extracts the item's file (slow, outside any transaction) and records the data, or
    the error with ``extraction`` left null (seed 002: the raw file stays downloadable)."""
    from storage.extraction import ExtractionError

    if data is None:
        with item.file.open("rb") as handle:
            data = handle.read()
    try:
        extracted, provenance = _extract(
            data=data,
            file_name=item.file_name,
            content_type=item.file_type,
            schema=schema,
            prompt=prompt,
            document=document,
        )
    except ExtractionError as exc:
        item.extraction, item.extraction_provenance = None, {}
        item.extraction_error = str(exc) or type(exc).__name__
    except Exception as exc:
        # An engine bug must not take the run down with it: the file counts as failed.
        logger.exception("Extraction crashed on storage item %s", item.id)
        item.extraction, item.extraction_provenance = None, {}
        item.extraction_error = (
            f"The extraction engine stopped unexpectedly ({type(exc).__name__})."
        )
    else:
        item.extraction, item.extraction_provenance, item.extraction_error = (
            extracted,
            provenance,
            "",
        )
    StorageItem.objects.filter(pk=item.pk).update(
        extraction=item.extraction,
        extraction_provenance=item.extraction_provenance,
        extraction_error=item.extraction_error,
        updated_at=timezone.now(),
    )
    return item


def _storage_created(item: StorageItem) -> None:
    event_record(
        organization_id=item.organization_id,
        type="storage.created",
        data=storage_event_data(item),
    )


# -- deduplication ------------------------------------------------------------------------


def dedup_key_read(
    *,
    data: bytes,
    file_name: str,
    content_type: str,
    schema: Mapping[str, Any],
    document: Document | None = None,
) -> str | None:
    """The digest of the values the deduplication schema names, read from the file by the
    extraction engine; None when a value cannot be read (such a file is never a copy)."""
    from storage.extraction import ExtractionError

    names = sorted((schema.get("properties") or {}).keys())
    try:
        values, _ = _extract(
            data=data,
            file_name=file_name,
            content_type=content_type,
            schema=schema,
            prompt="",
            document=document,
        )
    except ExtractionError as exc:
        logger.info("Deduplication could not read %s: %s", file_name, exc)
        return None
    key: dict[str, Any] = {}
    for name in names:
        value = values.get(name)
        if value is None or value == "":
            return None
        key[name] = value.strip() if isinstance(value, str) else value
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


# -- capture ------------------------------------------------------------------------------


def storage_capture(
    *, run_id: str, file_name: str, content_type: str, data: bytes
) -> StorageItem | None:
    """A file the agent captured: dedup → store → extraction → ``storage.created``.

    Returns None when the task does not store files or the file duplicates an earlier
    capture of the same task and credential (not stored, not extracted, no event). Slow
    work (reading the dedup key, writing, extracting) runs outside transactions; the
    duplicate check and the row are made together under the task's row lock.
    """
    run = TaskRun.objects.select_related("task").get(pk=run_id)
    config = run.task.storage
    if not config.get("enabled"):
        return None
    file_name = (file_name or "file").strip()[:255] or "file"
    content_type = content_type_for(file_name, content_type)
    dedup_schema = config.get("deduplication_schema") or {}
    dedup_key = None
    dedup = bool(config.get("deduplication") and dedup_schema.get("properties"))
    # Dedup and extraction both fill a schema from the same file: read it (PDF text, OCR)
    # once. A file that cannot be read is left to each of them to report as it would alone.
    document = _document_or_none(
        data=data,
        file_name=file_name,
        content_type=content_type,
        wanted=dedup and bool(config.get("extraction")),
    )
    if dedup:
        dedup_key = dedup_key_read(
            data=data,
            file_name=file_name,
            content_type=content_type,
            schema=dedup_schema,
            document=document,
        )
        if dedup_key and selectors.dedup_seen(
            task_id=run.task_id, credential_id=run.credential_id, dedup_key=dedup_key
        ):
            return None
    item = StorageItem(
        organization_id=run.organization_id,
        task_run=run,
        task_id=run.task_id,
        credential_id=run.credential_id,
        file_name=file_name,
        file_type=content_type,
        file_size=len(data),
        purpose=Purpose.OUTPUT,
        sha256=hashlib.sha256(data).hexdigest(),
        dedup_key=dedup_key,
        expires_at=timezone.now() + timedelta(days=settings.DECK_STORAGE_RETENTION_DAYS),
    )
    item.file.save(file_name, ContentFile(data), save=False)
    try:
        with transaction.atomic():
            if dedup_key:
                # Serializes captures of one task so two runs never both keep a document.
                Task.objects.select_for_update().filter(pk=run.task_id).first()
                if selectors.dedup_seen(
                    task_id=run.task_id, credential_id=run.credential_id, dedup_key=dedup_key
                ):
                    raise _Duplicate()
            item.save(force_insert=True)
    except _Duplicate:
        files_discard([item])
        return None
    except BaseException:
        files_discard([item])
        raise
    if config.get("extraction"):
        storage_extract(
            item=item,
            schema=config.get("extraction_schema"),
            prompt=config.get("extraction_prompt") or "",
            data=data,
            document=document,
        )
    with transaction.atomic():
        _storage_created(item)
    _scan_enqueue(item.id)
    return item


def _document_or_none(
    *, data: bytes, file_name: str, content_type: str, wanted: bool
) -> Document | None:
    from storage.extraction import ExtractionError, read_document

    if not wanted:
        return None
    try:
        return read_document(data=data, file_name=file_name, content_type=content_type)
    except ExtractionError:
        return None


def _scan_enqueue(item_id: str) -> None:
    from storage.jobs import scan_publish

    transaction.on_commit(lambda: scan_publish(item_id))


# -- extraction-purpose runs --------------------------------------------------------------


def run_extraction_execute(*, run: TaskRun) -> str:
    """The work of an extraction-purpose run: extract its file against the task's
    extraction_schema, then finish the run with the result as its output (or with
    ``extraction_failed``). The agent never runs. Called by whoever claimed the run."""
    from tasks.execution import run_complete, run_fail

    item = selectors.run_extraction_item(run_id=run.id)
    if item is None:
        run_fail(
            run,
            {
                "type": "storage",
                "code": "file_invalid",
                "message": "The run's extraction input file is missing.",
            },
        )
        return "failed"
    config = run.task.storage
    item = storage_extract(
        item=item,
        schema=config.get("extraction_schema"),
        prompt=config.get("extraction_prompt") or "",
        data=None,
    )
    with transaction.atomic():
        _storage_created(item)
    run_complete(run, item.extraction)
    return "finished"


# -- attachments for the agent ------------------------------------------------------------


@contextlib.contextmanager
def run_attachments(*, run: TaskRun) -> Iterator[dict[str, dict[str, Any]]]:
    """The run's attachments as local files for the agent, by input field:
    ``{storage_id, file_name, content_type, path}``; the files are removed afterwards."""
    references = {
        name: value
        for name, value in (run.input or {}).items()
        if isinstance(value, dict)
        and value.get("purpose") == Purpose.ATTACHMENT
        and value.get("storage_id")
    }
    if not references:
        yield {}
        return
    items = {
        item.pk: item
        for item in StorageItem.objects.filter(
            task_run_id=run.id,
            purpose=Purpose.ATTACHMENT,
            pk__in=[value["storage_id"] for value in references.values()],
        )
    }
    folder = Path(tempfile.mkdtemp(prefix=f"deck-{run.id}-"))
    try:
        attachments: dict[str, dict[str, Any]] = {}
        for name, value in references.items():
            item = items.get(value["storage_id"])
            if item is None:
                continue
            target = folder / item.pk / Path(item.file.name or "file").name
            target.parent.mkdir()
            with item.file.open("rb") as source, target.open("wb") as sink:
                shutil.copyfileobj(source, sink)
            attachments[name] = {
                "storage_id": item.pk,
                "file_name": item.file_name,
                "content_type": item.file_type,
                "path": str(target),
            }
        yield attachments
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# -- malware scans ------------------------------------------------------------------------


def storage_scan(*, item_id: str, final: bool = True) -> str:
    """Scans one stored file. Claimed with a conditional update (a claim older than
    DECK_SCAN_LEASE_SECONDS may be taken over), so duplicate jobs scan once. When the scanner
    cannot answer: with ``final`` off the claim is released and ``ScanUnavailable`` raised
    for a retry; with it on the item is marked ``error``. An attachment's verdict moves its
    run: the last clean scan dispatches it, a flagged (or unscannable) file fails it."""
    now = timezone.now()
    lease = now - timedelta(seconds=settings.DECK_SCAN_LEASE_SECONDS)
    claimed = (
        StorageItem.objects.filter(pk=item_id, scan_status=ScanStatus.PENDING)
        .filter(Q(scan_started_at__isnull=True) | Q(scan_started_at__lt=lease))
        .update(scan_started_at=now)
    )
    if not claimed:
        return "skipped"
    item = StorageItem.objects.get(pk=item_id)
    try:
        with item.file.open("rb") as handle:
            result = scan(handle.read())
    except (ScanUnavailable, OSError) as exc:
        if not final:
            StorageItem.objects.filter(pk=item_id, scan_started_at=now).update(scan_started_at=None)
            raise ScanUnavailable(str(exc)) from exc
        status, detail = ScanStatus.ERROR, f"The file could not be scanned: {exc}"
    else:
        status = ScanStatus.CLEAN if result.clean else ScanStatus.INFECTED
        detail = result.signature or ""
    recorded = StorageItem.objects.filter(
        pk=item_id, scan_status=ScanStatus.PENDING, scan_started_at=now
    ).update(scan_status=status, scan_detail=detail, updated_at=timezone.now())
    if not recorded:
        return "skipped"
    if item.purpose == Purpose.ATTACHMENT:
        if status == ScanStatus.CLEAN:
            _attachment_run_release(item.task_run_id)
        else:
            _attachment_run_fail(item, status, detail)
    return status


def _attachment_run_release(run_id: str) -> None:
    from tasks.runs import run_dispatch

    if not selectors.run_awaits_scans(run_id=run_id):
        run_dispatch(run_id)


def _attachment_run_fail(item: StorageItem, status: str, detail: str) -> None:
    from tasks.models import TaskRun
    from tasks.runs import run_transition, session_release

    if status == ScanStatus.INFECTED:
        message = f"The attachment {item.file_name!r} was flagged by the malware scan ({detail})."
    else:
        message = f"The attachment {item.file_name!r} could not be scanned for malware."
    run = TaskRun.objects.get(pk=item.task_run_id)
    error = {"type": "storage", "code": "attachment_invalid", "message": message}
    now = timezone.now()
    moved = run_transition(
        run.id,
        from_statuses=[TaskRun.Status.QUEUED],
        to=TaskRun.Status.FAILED,
        result=TaskRun.Result.FAILURE,
        errors=[*run.errors, error],
        finished_at=now,
    )
    if moved is not None:
        session_release(moved)


# -- retention ----------------------------------------------------------------------------


def storage_purge(
    *, older_than: timedelta | None = None, dry_run: bool = False, batch: int = 500
) -> int:
    """Deletes items past retention, or all older than ``older_than``: the row and the file
    both go (the file after the row's transaction commits, see ``storage.signals``). Past
    retention is ``expires_at`` or, if the setting was lowered since, DECK_STORAGE_RETENTION_DAYS
    after creation. Idempotent; returns how many items were (or would be) deleted."""
    now = timezone.now()
    if older_than is None:
        retention = timedelta(days=settings.DECK_STORAGE_RETENTION_DAYS)
        due = Q(expires_at__lte=now) | Q(created_at__lt=now - retention)
    else:
        due = Q(created_at__lt=now - older_than)
    if dry_run:
        return StorageItem.objects.filter(due).count()
    deleted = 0
    while True:
        ids = list(StorageItem.objects.filter(due).values_list("pk", flat=True)[:batch])
        if not ids:
            return deleted
        with transaction.atomic():
            for item in StorageItem.objects.filter(pk__in=ids):
                item.delete()
                deleted += 1
