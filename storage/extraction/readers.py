"""Readers: bytes of a PDF, spreadsheet, web page, image or text → the common Document."""

from __future__ import annotations

import csv
import datetime
import io
import mimetypes
import re
import shutil
import statistics
import threading
import zipfile
from collections.abc import Callable, Iterable
from html.parser import HTMLParser
from pathlib import PurePosixPath
from typing import Any

from storage.extraction.document import (
    Document,
    DocumentBuilder,
    Segment,
    detect_tables,
    is_label,
)
from storage.extraction.errors import ExtractionError

# (text, x0, x1, top, bottom) in any unit, y growing downwards.
Word = tuple[str, float, float, float, float]

KINDS = ("pdf", "csv", "xlsx", "html", "image", "text")
_TYPES = {
    "application/pdf": "pdf",
    "application/x-pdf": "pdf",
    "text/csv": "csv",
    "application/csv": "csv",
    "text/tab-separated-values": "csv",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "text/plain": "text",
    "text/markdown": "text",
    "application/json": "text",
    "text/xml": "text",
    "application/xml": "text",
}
_EXTENSIONS = {
    ".pdf": "pdf",
    ".csv": "csv",
    ".tsv": "csv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".txt": "text",
    ".text": "text",
    ".md": "text",
    ".json": "text",
    ".xml": "text",
    ".png": "image",
    ".jpg": "image",
    ".jpeg": "image",
    ".gif": "image",
    ".tif": "image",
    ".tiff": "image",
    ".bmp": "image",
    ".webp": "image",
}
_MAGIC = [
    (b"%PDF", "pdf"),
    (b"\x89PNG", "image"),
    (b"\xff\xd8\xff", "image"),
    (b"GIF8", "image"),
    (b"II*\x00", "image"),
    (b"MM\x00*", "image"),
    (b"BM", "image"),
]


def kind_of(data: bytes, file_name: str, content_type: str | None) -> str:
    """Which reader handles the file: the bytes' signature first, then the type, then the name."""
    head = data[:8]
    for magic, magic_kind in _MAGIC:
        if head.startswith(magic):
            return magic_kind
    if head.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "image"
    media = (content_type or "").split(";")[0].strip().lower()
    suffix = PurePosixPath(file_name or "").suffix.lower()
    if head.startswith(b"PK"):
        if _is_xlsx(data):
            return "xlsx"
        raise ExtractionError(
            f"Unsupported file type for extraction: {file_name or media or 'a zip archive'} "
            "(an archive that is not an XLSX workbook)."
        )
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise ExtractionError(
            f"Unsupported file type for extraction: {file_name or media} is a legacy Office "
            "file (XLS/DOC); save it as XLSX or PDF."
        )
    kind = _TYPES.get(media) or _EXTENSIONS.get(suffix)
    if kind is None and media.startswith("image/"):
        kind = "image"
    if kind is None and media in {"", "application/octet-stream"}:
        guessed, _ = mimetypes.guess_type(file_name or "")
        kind = _TYPES.get(guessed or "")
        if kind is None and _looks_like_text(data):
            sample = data[:2048].lower()
            kind = "html" if b"<html" in sample or b"<table" in sample else "text"
    if kind is None:
        raise ExtractionError(
            f"Unsupported file type for extraction: {media or suffix or 'unknown'} "
            f"({file_name or 'unnamed file'}). Supported: PDF, CSV, XLSX, HTML, images "
            "(PNG, JPEG, TIFF, GIF, BMP, WebP) and plain text."
        )
    if kind == "pdf" and not head.startswith(b"%PDF"):
        raise ExtractionError(f"{file_name or 'The file'} is not a PDF (no %PDF header).")
    return kind


def _is_xlsx(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return any(name.startswith("xl/") for name in archive.namelist())
    except zipfile.BadZipFile:
        return False


def _looks_like_text(data: bytes) -> bool:
    sample = data[:4096]
    if b"\x00" in sample:
        return False
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as error:
        return error.start > len(sample) - 4  # a multi-byte character cut at the edge
    return True


def decode_text(data: bytes) -> str:
    if data[:2] in {b"\xff\xfe", b"\xfe\xff"}:
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def read(data: bytes, file_name: str, content_type: str | None) -> Document:
    if not data:
        raise ExtractionError(f"{file_name or 'The file'} is empty.")
    kind = kind_of(data, file_name, content_type)
    reader: Callable[[bytes], Document] = {
        "pdf": read_pdf,
        "csv": read_csv,
        "xlsx": read_xlsx,
        "html": read_html,
        "image": read_image,
        "text": read_text,
    }[kind]
    document = reader(data)
    if not document.lines:
        raise ExtractionError(f"No text could be read from {file_name or 'the file'}.")
    return document


# --- Words with positions (PDF text layer, OCR) → lines of segments ---------------------------


def add_words(builder: DocumentBuilder, page: int, words: Iterable[Word], gap: float = 0.6) -> None:
    """Group words into lines by vertical position and lines into segments at visible gaps.

    A gap wider than ``gap`` times the text height separates segments: word spaces are about a
    quarter of the font size, while right-aligned values, table cells and columns sit much
    further. OCR boxes are less exact (a "&" or a comma gets a box of its own), hence a
    wider gap for them.
    """
    ordered = sorted(words, key=lambda word: (word[3], word[1]))
    lines: list[list[Word]] = []
    centers: list[float] = []
    for word in ordered:
        center = (word[3] + word[4]) / 2
        height = max(word[4] - word[3], 1.0)
        for index in range(len(lines) - 1, max(-1, len(lines) - 4), -1):
            if abs(centers[index] - center) <= height * 0.45:
                lines[index].append(word)
                break
        else:
            lines.append([word])
            centers.append(center)
    pairs = sorted(zip(centers, lines, strict=True), key=lambda pair: pair[0])
    for _, line in pairs:
        line.sort(key=lambda word: word[1])
        height = statistics.median(word[4] - word[3] for word in line) or 10.0
        segments: list[tuple[str, float, float]] = []
        for word in line:
            if segments and word[1] - segments[-1][2] <= height * gap:
                text, x0, _ = segments[-1]
                segments[-1] = (f"{text} {word[0]}", x0, word[2])
            else:
                segments.append((word[0], word[1], word[2]))
        builder.add_line(page, segments, height)


# --- PDF ------------------------------------------------------------------------------------


def read_pdf(data: bytes) -> Document:
    """The text layer through PDFium: its text runs with their boxes, then lines and segments.

    PDFium (pypdfium2, the renderer pdfplumber itself uses) reports each run of text with its
    rectangle in C, about three times faster than walking every character object in Python
    (bench/extraction.py); pages without a text layer are rendered and read with OCR.
    """
    import pypdfium2 as pdfium

    builder = DocumentBuilder("pdf")
    # Text runs per page, or the rendered picture of a page without a text layer.
    pages: list[list[Word] | Any] = []
    skipped = 0
    with _PDFIUM:
        try:
            pdf = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as error:
            reason = str(error).rstrip(".")
            if "password" in reason.lower():
                reason = "it is encrypted with a password"
            raise ExtractionError(f"The PDF could not be read: {reason}.") from error
        try:
            for index in range(len(pdf)):
                page = pdf[index]
                try:
                    words = _page_words(page)
                    if words:
                        pages.append(words)
                    elif ocr_available() and len(pages) - _text_pages(pages) < MAX_OCR_PAGES:
                        pages.append(page.render(scale=200 / 72).to_pil())
                    else:
                        skipped += 1
                        pages.append([])
                finally:
                    page.close()
        except pdfium.PdfiumError as error:
            reason = str(error).rstrip(".")
            raise ExtractionError(f"The PDF could not be read: {reason}.") from error
        finally:
            pdf.close()
    builder.pages = max(1, len(pages))
    for number, content in enumerate(pages, start=1):
        if isinstance(content, list):
            add_words(builder, number, content)
        else:
            # A scanned page: no text layer, so its rendering is read with OCR.
            add_words(builder, number, ocr_words(content), gap=OCR_GAP)
    if skipped and ocr_available():
        builder.warnings.append(
            f"{skipped} scanned page(s) past the first {MAX_OCR_PAGES} were not read."
        )
    if not builder.lines and not ocr_available():
        raise ExtractionError(
            "The PDF has no text layer and OCR is unavailable (install tesseract-ocr)."
        )
    return builder.build()


def _page_words(page: Any) -> list[Word]:
    height = page.get_height()
    textpage = page.get_textpage()
    try:
        words: list[Word] = []
        for rect in range(textpage.count_rects()):
            left, bottom, right, top = textpage.get_rect(rect)
            text = textpage.get_text_bounded(left, bottom, right, top)
            if text.strip():
                words.append((text, left, right, height - top, height - bottom))
        return words
    finally:
        textpage.close()


def _text_pages(pages: list[Any]) -> int:
    return sum(1 for content in pages if isinstance(content, list))


# --- Images (OCR) ---------------------------------------------------------------------------


OCR_GAP = 1.0
OCR_TIMEOUT = 120  # seconds per page
# OCR costs about a second per page: a scanned book is not read past this many pages.
MAX_OCR_PAGES = 50
# PDFium is not thread-safe; a worker running extractions in threads takes turns.
_PDFIUM = threading.Lock()


def ocr_available() -> bool:
    return shutil.which("tesseract") is not None


def ocr_words(image: Any) -> list[Word]:
    import pytesseract

    if image.mode not in {"RGB", "L"}:
        image = image.convert("RGB")
    # Small renders OCR badly: scale up so body text is ~30px high.
    if image.width < 1600:
        factor = 1600 / image.width
        image = image.resize((int(image.width * factor), int(image.height * factor)))
    try:
        result = pytesseract.image_to_data(
            image, output_type=pytesseract.Output.DICT, config="--psm 11", timeout=OCR_TIMEOUT
        )
    except RuntimeError as error:  # pytesseract's timeout
        raise ExtractionError(f"OCR took longer than {OCR_TIMEOUT} s on one page.") from error
    except pytesseract.TesseractError as error:
        raise ExtractionError(f"OCR failed: {error.message}".rstrip(".") + ".") from error
    words: list[Word] = []
    for index, text in enumerate(result["text"]):
        text = (text or "").strip()
        if not text or float(result["conf"][index]) < 0:
            continue
        left, top = float(result["left"][index]), float(result["top"][index])
        width, height = float(result["width"][index]), float(result["height"][index])
        words.append((text, left, left + width, top, top + height))
    return words


def read_image(data: bytes) -> Document:
    from PIL import Image, UnidentifiedImageError

    if not ocr_available():
        raise ExtractionError(
            "Images are read with OCR, which needs the tesseract binary on the worker "
            "(apt-get install tesseract-ocr)."
        )
    builder = DocumentBuilder("image")
    try:
        with Image.open(io.BytesIO(data)) as image:
            frames = getattr(image, "n_frames", 1)
            if frames > MAX_OCR_PAGES:
                builder.warnings.append(
                    f"Only the first {MAX_OCR_PAGES} of {frames} image frames were read."
                )
            for number in range(min(frames, MAX_OCR_PAGES)):
                image.seek(number)
                add_words(builder, number + 1, ocr_words(image.copy()), gap=OCR_GAP)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as error:
        raise ExtractionError(f"The image could not be decoded: {error}.") from error
    return builder.build()


# --- Spreadsheets and CSV -------------------------------------------------------------------


def _add_grid(builder: DocumentBuilder, page: int, rows: list[list[str]]) -> None:
    """Rows of cells as lines whose segments sit at their column index (x = column)."""
    added = []
    for row in rows:
        line = builder.add_line(
            page, [(cell, float(column), column + 0.9) for column, cell in enumerate(row)]
        )
        if line is not None:
            added.append(line)
    if not added:
        return
    # A sheet whose first row names its columns is one table; anything else (a bill export
    # with a header block) is left to table detection.
    first = added[0]
    if (
        len(first.segments) >= 2
        and all(is_label(s.text) for s in first.segments)
        and len(added) > 1
        and first.segments[0].x0 == 0
        and len(first.segments) == max(len(line.segments) for line in added)
    ):
        width = int(max(s.x0 for line in added for s in line.segments)) + 1
        grid: list[list[Segment | None]] = []
        for line in added:
            cells: list[Segment | None] = [None] * width
            for segment in line.segments:
                cells[int(segment.x0)] = segment
            grid.append(cells)
        builder.add_table(page, grid)


def read_csv(data: bytes) -> Document:
    text = decode_text(data)
    sample = text[:8192]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    try:
        rows = list(csv.reader(io.StringIO(text), dialect))
    except csv.Error as error:
        raise ExtractionError(f"The CSV could not be parsed: {error}.") from error
    builder = DocumentBuilder("csv")
    _add_grid(builder, 1, rows)
    builder.detect_tables = not builder.tables
    return builder.build()


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return value.date().isoformat() if value.time() == datetime.time() else value.isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return str(value)


def read_xlsx(data: bytes) -> Document:
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as error:
        # openpyxl raises KeyError/ValueError/BadZipFile… on damaged workbooks.
        raise ExtractionError(f"The workbook could not be opened: {error}.") from error
    builder = DocumentBuilder("xlsx")
    try:
        for number, sheet in enumerate(workbook.worksheets, start=1):
            builder.pages = max(builder.pages, number)
            rows = [
                [_cell_text(value) for value in row] for row in sheet.iter_rows(values_only=True)
            ]
            before = len(builder.tables)
            _add_grid(builder, number, rows)
            if len(builder.tables) == before:
                sheet_lines = [line for line in builder.lines if line.page == number]
                builder.tables.extend(detect_tables(sheet_lines, builder))
    finally:
        workbook.close()
    builder.detect_tables = False
    return builder.build()


# --- HTML -----------------------------------------------------------------------------------

_BLOCK = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "body",
        "br",
        "caption",
        "dd",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tbody",
        "thead",
        "tfoot",
        "tr",
        "ul",
    ]
)
_SKIP = frozenset(["script", "style", "noscript", "template", "svg", "head"])


class _HtmlReader(HTMLParser):
    def __init__(self, builder: DocumentBuilder) -> None:
        super().__init__(convert_charrefs=True)
        self.builder = builder
        self.segments: list[str] = []
        self.current: list[str] = []
        self.skip = 0
        self.in_title = False
        self.title: list[str] = []
        self.tables: list[list[list[Segment | None]]] = []
        self.row: list[str] | None = None
        self.cell: list[str] | None = None
        self.pending_label: Segment | None = None
        self.list_tag: str | None = None
        self.heading: str | None = None

    # Segments are the text between tags; lines end at block elements.
    def _close_segment(self) -> None:
        text = " ".join("".join(self.current).split())
        if text:
            self.segments.append(text)
        self.current = []

    def _flush_line(self) -> None:
        self._close_segment()
        if self.segments:
            x = 0.0
            parts = []
            for text in self.segments:
                parts.append((text, x, x + len(text)))
                x += len(text) + 2
            self.builder.add_line(1, parts)
        self.segments = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            if tag == "head":
                return
            self.skip += 1
            return
        if tag == "title":
            self.in_title = True
            return
        if self.skip:
            return
        if tag == "table":
            self._flush_line()
            self.tables.append([])
        elif tag == "tr":
            self._flush_line()
            self.row = []
        elif tag in {"td", "th"} and self.row is not None:
            self.cell = []
        elif tag in _BLOCK:
            self._flush_line()
            if tag in {"h1", "h2"} and self.heading is None:
                self.heading = ""
        else:
            self._close_segment()
            if tag == "input":
                self._input(dict(attrs))

    def _input(self, attrs: dict[str, str | None]) -> None:
        """A read-only form field shows its value like text; passwords are never read."""
        kind = (attrs.get("type") or "text").lower()
        value = (attrs.get("value") or "").strip()
        if not value or kind not in {"text", "email", "tel", "number", "date", "search", "url"}:
            return
        if self.cell is not None:
            self.cell.append(f" {value} ")
        else:
            self.current.append(value)
            self._close_segment()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            if tag != "head":
                self.skip = max(0, self.skip - 1)
            return
        if tag == "title":
            self.in_title = False
            return
        if self.skip:
            return
        if tag in {"td", "th"} and self.row is not None and self.cell is not None:
            self.row.append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self._add_row(self.row)
            self.row = None
        elif tag == "table" and self.tables:
            rows = self.tables.pop()
            if len(rows) > 1 and sum(1 for cell in rows[0] if cell) >= 2:
                self.builder.add_table(1, rows)
        elif tag in {"dt", "dd"}:
            self._close_segment()
            line = self._flush_segments_as_line()
            if line and tag == "dt":
                self.pending_label = line
            elif line and tag == "dd" and self.pending_label is not None:
                self.builder.add_key_value(self.pending_label, line, 1, "markup")
                self.pending_label = None
        elif tag in _BLOCK:
            if tag in {"h1", "h2"} and self.heading == "":
                self.heading = " ".join(("".join(self.current) + " ".join(self.segments)).split())
            self._flush_line()
        else:
            self._close_segment()

    def _flush_segments_as_line(self) -> Segment | None:
        if not self.segments:
            return None
        text = " ".join(self.segments)
        self.segments = []
        line = self.builder.add_line(1, [(text, 0.0, float(len(text)))])
        return line.segments[0] if line else None

    def _add_row(self, cells: list[str]) -> None:
        line = self.builder.add_line(
            1, [(cell, float(index), index + 0.9) for index, cell in enumerate(cells)]
        )
        if self.tables:
            row: list[Segment | None] = [None] * len(cells)
            if line is not None:
                for segment in line.segments:
                    row[int(segment.x0)] = segment
            self.tables[-1].append(row)

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title.append(data)
        elif self.skip:
            return
        elif self.cell is not None:
            self.cell.append(data)
        else:
            self.current.append(data)

    def close(self) -> None:
        super().close()
        self._flush_line()


def read_html(data: bytes) -> Document:
    builder = DocumentBuilder("html")
    builder.detect_tables = False
    reader = _HtmlReader(builder)
    reader.feed(decode_text(data))
    reader.close()
    title = " ".join("".join(reader.title).split())
    builder.title = reader.heading or title or None
    return builder.build()


# --- Plain text -----------------------------------------------------------------------------


def read_text(data: bytes) -> Document:
    builder = DocumentBuilder("text")
    page = 1
    for raw in decode_text(data).splitlines():
        if "\f" in raw:
            page += raw.count("\f")
            raw = raw.replace("\f", "")
        line = raw.expandtabs(8)
        segments = [
            (match.group(0), float(match.start()), float(match.end()))
            for match in re.finditer(r"\S+(?: \S+)*", line)
        ]
        builder.add_line(page, segments)
    return builder.build()
