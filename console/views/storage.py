"""Storage: every file of the organization (captured by runs, or given as run input), with
filters, signed downloads, previews of images, PDFs and text, and extracted data."""

from __future__ import annotations

import io
from typing import Any, TypeVar

from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.http import require_GET

from console.membership import ConsoleRequest, organization_required
from console.shortcuts import get_or_404, paginate, render_page
from storage import selectors as storage_selectors
from storage.models import StorageItem
from storage.schemas import storage_representation
from tasks import selectors

# Types the console shows inline. Everything else is download-only: an HTML or SVG file from
# a website must never run in the console's origin.
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
PDF_TYPES = frozenset({"application/pdf"})
TEXT_TYPES = frozenset({"text/plain", "text/csv", "application/json", "text/markdown"})
R = TypeVar("R", bound=HttpResponseBase)
TEXT_PREVIEW_BYTES = 64 * 1024
# Larger PDFs are download-only: rendering reads the whole file into memory.
PDF_PREVIEW_MAX_BYTES = 20 * 1024 * 1024


def preview_kind(item: StorageItem) -> str | None:
    file_type = item.file_type.split(";")[0].strip().lower()
    if item.scan_status == StorageItem.ScanStatus.INFECTED:
        return None
    if file_type in IMAGE_TYPES:
        return "image"
    if file_type in PDF_TYPES:
        return "pdf"
    if file_type in TEXT_TYPES:
        return "text"
    return None


def storage_rows(items: Any) -> list[dict[str, Any]]:
    """Items with a fresh signed download link each (what the API's ``url`` is)."""
    rows = []
    for item in items:
        infected = item.scan_status == StorageItem.ScanStatus.INFECTED
        rows.append(
            {
                "item": item,
                "url": None if infected else storage_representation(item)["url"],
                "preview": preview_kind(item),
            }
        )
    return rows


def text_preview(item: StorageItem) -> str:
    with default_storage.open(item.file.name or "", "rb") as handle:
        head: bytes = handle.read(TEXT_PREVIEW_BYTES + 1)
    text = head[:TEXT_PREVIEW_BYTES].decode("utf-8", errors="replace")
    return text + ("\n…" if len(head) > TEXT_PREVIEW_BYTES else "")


@require_GET
@login_required
@organization_required
def storage(request: ConsoleRequest) -> HttpResponse:
    organization = request.organization
    tasks = list(selectors.task_list(organization=organization).order_by("name"))
    purpose = request.GET.get("purpose", "")
    task_id = request.GET.get("task", "")
    run_id = request.GET.get("run", "").strip()
    listed = storage_selectors.storage_list(organization=organization)
    if purpose in StorageItem.Purpose.values:
        listed = listed.filter(purpose=purpose)
    if task_id in {task.id for task in tasks}:
        listed = listed.filter(task_id=task_id)
    if run_id:
        listed = listed.filter(task_run_id=run_id)
    page = paginate(request, listed.select_related("task").order_by("-created_at", "-id"))
    context = {
        "page": page,
        "rows": storage_rows(page),
        "tasks": tasks,
        "purposes": StorageItem.Purpose.choices,
        "filters": {"purpose": purpose, "task": task_id, "run": run_id},
    }
    return render_page(request, "console/storage.html", context, partial="table")


def _item(request: ConsoleRequest, storage_id: str) -> StorageItem:
    item: StorageItem = get_or_404(
        storage_selectors.storage_get, organization=request.organization, storage_id=storage_id
    )
    return item


@require_GET
@login_required
@organization_required
def storage_detail(request: ConsoleRequest, storage_id: str) -> HttpResponse:
    item = _item(request, storage_id)
    row = storage_rows([item])[0]
    context = {
        **row,
        "text": text_preview(item) if row["preview"] == "text" else None,
    }
    return render_page(request, "console/storage_detail.html", context)


def pdf_page_png(item: StorageItem) -> bytes | None:
    """The PDF's first page as a PNG (PDFium, as extraction reads PDFs): a preview every
    browser shows, headless ones included, without running a PDF viewer on the file. None
    when the file is not a PDF PDFium can open."""
    import pypdfium2 as pdfium

    with default_storage.open(item.file.name or "", "rb") as handle:
        data = handle.read(PDF_PREVIEW_MAX_BYTES + 1)
    if len(data) > PDF_PREVIEW_MAX_BYTES:
        return None
    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError:
        return None
    try:
        if len(document) == 0:
            return None
        page = document[0]
        # About 110 dpi: readable at the preview's width, small enough to send inline.
        image = page.render(scale=1.5).to_pil()
        output = io.BytesIO()
        image.save(output, format="PNG", optimize=True)
        return output.getvalue()
    finally:
        document.close()


@require_GET
@login_required
@organization_required
def storage_preview(request: ConsoleRequest, storage_id: str) -> HttpResponseBase:
    """The file inline, for the preview: images as they are, a PDF's first page as a PNG;
    never active content."""
    item = _item(request, storage_id)
    kind = preview_kind(item)
    if kind not in ("image", "pdf"):
        raise Http404("No preview for this file.")
    if kind == "pdf":
        try:
            png = pdf_page_png(item)
        except FileNotFoundError as exc:
            raise Http404("The file is gone.") from exc
        if png is None:
            raise Http404("This PDF cannot be previewed.")
        return _inline(HttpResponse(png, content_type="image/png"))
    try:
        handle = default_storage.open(item.file.name or "", "rb")
    except FileNotFoundError as exc:
        raise Http404("The file is gone.") from exc
    response = FileResponse(
        handle,
        as_attachment=False,
        filename=item.file_name,
        content_type=item.file_type.split(";")[0].strip().lower(),
    )
    return _inline(response)


def _inline(response: R) -> R:
    """Shown inline in the console's origin: nothing in it may run or fetch."""
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    response["X-Frame-Options"] = "SAMEORIGIN"
    return response
