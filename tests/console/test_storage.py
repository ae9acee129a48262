"""Storage in the console: the browser of all items (filters, signed downloads), item pages
with previews, and a run's Input, Storage, Screenshots and Steps tabs."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse

from storage.models import StorageItem
from storage.services import storage_capture
from tasks.models import RunStep, Task
from tests.console.conftest import World

HX = {"HX-Request": "true"}
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99"
    b"=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def _capture(world: World, name: str, content_type: str, data: bytes) -> StorageItem:
    Task.objects.filter(pk=world.task.pk).update(storage={**world.task.storage, "enabled": True})
    item = storage_capture(
        run_id=world.run.id, file_name=name, content_type=content_type, data=data
    )
    assert item is not None
    return item


def _download(client: Client, url: str) -> bytes:
    response = client.get(urlsplit(url).path)
    assert response.status_code == 200
    return response.getvalue()


def test_storage_browser_lists_filters_and_downloads(
    member: Client, world: World, their_world: World
) -> None:
    bill = _capture(world, "bill-2025-01.pdf", "application/pdf", PDF)
    notes = _capture(world, "notes.txt", "text/plain", b"amount due: 84.12\n")
    theirs = _capture(their_world, "their-bill.pdf", "application/pdf", PDF)
    StorageItem.objects.filter(pk=notes.pk).update(purpose=StorageItem.Purpose.ATTACHMENT)
    url = reverse("console:storage")
    content = member.get(url).content.decode()
    assert bill.file_name in content
    assert notes.file_name in content
    assert theirs.file_name not in content
    links = re.findall(r'href="(http[^"]+|/files/[^"]+)" download', content)
    assert len(links) == 2
    assert _download(Client(), links[0].replace("&amp;", "&")) in (PDF, b"amount due: 84.12\n")
    part = member.get(url, {"purpose": "attachment"}, headers=HX).content.decode()
    assert part.lstrip().startswith('<div id="storage-table"')
    assert notes.file_name in part
    assert bill.file_name not in part
    by_run = member.get(url, {"run": their_world.run.id}).content.decode()
    assert theirs.file_name not in by_run
    assert "No files match these filters." in by_run
    by_task = member.get(url, {"task": world.task.id}).content.decode()
    assert bill.file_name in by_task


def test_storage_item_page_previews_and_stays_in_the_organization(
    member: Client, world: World, their_world: World
) -> None:
    image = _capture(world, "screen.png", "image/png", PNG)
    text = _capture(world, "notes.txt", "text/plain", b"amount due: 84.12\n")
    page = member.get(reverse("console:storage_detail", args=[image.id])).content.decode()
    preview = reverse("console:storage_preview", args=[image.id])
    assert f'src="{preview}"' in page
    response = member.get(preview)
    assert response["Content-Type"] == "image/png"
    assert "sandbox" in response["Content-Security-Policy"]
    assert response.getvalue() == PNG
    text_page = member.get(reverse("console:storage_detail", args=[text.id])).content.decode()
    assert "amount due: 84.12" in text_page
    # Text is shown in the page, not served inline.
    assert member.get(reverse("console:storage_preview", args=[text.id])).status_code == 404
    theirs = _capture(their_world, "their.png", "image/png", PNG)
    for name in ("console:storage_detail", "console:storage_preview"):
        for headers in ({}, HX):
            url = reverse(name, args=[theirs.id])
            assert member.get(url, headers=headers).status_code == 404


def test_an_html_file_is_never_previewed(member: Client, world: World) -> None:
    page = _capture(world, "page.html", "text/html", b"<script>alert(1)</script>")
    content = member.get(reverse("console:storage_detail", args=[page.id])).content.decode()
    assert "<script>alert(1)</script>" not in content
    assert member.get(reverse("console:storage_preview", args=[page.id])).status_code == 404


def test_run_tabs_show_files_screenshots_and_reasoning(member: Client, world: World) -> None:
    bill = _capture(world, "bill.pdf", "application/pdf", PDF)
    StorageItem.objects.filter(pk=bill.pk).update(
        extraction={"amount_due": 84.12, "due_date": "2025-02-01"}
    )
    attached = _capture(world, "id-card.png", "image/png", PNG)
    StorageItem.objects.filter(pk=attached.pk).update(purpose=StorageItem.Purpose.ATTACHMENT)
    for sequence, reasoning in ((1, "Open the login page"), (2, "Find the bills list")):
        path = default_storage.save(
            f"screenshots/{world.organization.id}/{world.run.id}/{sequence:04d}.png",
            ContentFile(PNG),
        )
        RunStep.objects.create(
            run=world.run, sequence=sequence, tool="goto", reasoning=reasoning, screenshot=path
        )
    url = reverse("console:runs_detail", args=[world.run.id])

    def tab(name: str) -> str:
        response = member.get(url, {"tab": name}, headers={**HX, "HX-Target": "run-tab"})
        return response.content.decode()

    storage = tab("storage")
    assert "bill.pdf" in storage
    assert "&quot;amount_due&quot;: 84.12" in storage
    assert reverse("console:storage_preview", args=[bill.id]) in storage
    inputs = tab("input")
    assert "id-card.png" in inputs
    assert "bill.pdf" not in inputs
    shots = tab("screenshots")
    assert 'id="shot-1"' in shots
    assert 'href="#shot-2"' in shots  # the lightbox's next link
    assert "Find the bills list" in shots
    image = re.search(r'<img src="([^"]+)" alt="Step 1', shots)
    assert image is not None
    assert _download(Client(), image.group(1).replace("&amp;", "&")) == PNG
    steps = tab("steps")
    assert "?tab=screenshots#shot-2" in steps


def test_a_pdf_preview_is_its_first_page_as_an_image(member: Client, world: World) -> None:
    from io import BytesIO

    from PIL import Image
    from reportlab.pdfgen import canvas

    buffer = BytesIO()
    document = canvas.Canvas(buffer, pagesize=(300, 400))
    document.drawString(40, 350, "Amount due: 84.12")
    document.showPage()
    document.save()
    bill = _capture(world, "bill.pdf", "application/pdf", buffer.getvalue())
    response = member.get(reverse("console:storage_preview", args=[bill.id]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert "sandbox" in response["Content-Security-Policy"]
    image = Image.open(BytesIO(response.content))
    assert image.size == (450, 600)  # 1.5 x the page's points
    # Not a PDF PDFium can open: no preview, the download stays.
    broken = _capture(world, "broken.pdf", "application/pdf", b"%PDF-1.4 not really")
    assert member.get(reverse("console:storage_preview", args=[broken.id])).status_code == 404
