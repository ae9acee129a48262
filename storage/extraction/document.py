"""The common document model every reader produces.

A document is pages of lines; a line is segments (runs of text separated by a visible gap, a
table cell, a spreadsheet cell) with horizontal positions, so "label   value" and "label above
value" can be recognised the same way in a PDF, an OCR'd image, an HTML page or a CSV. The
document's ``text`` is its lines joined by newlines; every span (segment, key/value, table
cell) is a pair of offsets into that text, which is what provenance reports.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from functools import lru_cache

from storage.extraction.normalize import US, Locale, find_amounts, find_dates, locale_of

# Segments of one line are joined with this in the document text; two spaces keep the
# plain-text reading of a line ("Amount due  $84.12") faithful to the layout.
SEGMENT_JOIN = "  "


@dataclass
class Segment:
    text: str
    x0: float
    x1: float
    start: int = 0  # offset into Document.text
    # Set when the text spans lines (a wrapped table cell): where it ends in Document.text.
    stop: int | None = None

    @property
    def end(self) -> int:
        return self.stop if self.stop is not None else self.start + len(self.text)


@dataclass
class Line:
    page: int
    segments: list[Segment]
    start: int = 0
    text: str = ""
    index: int = 0
    height: float = 0.0  # text height where the reader knows it (PDF, OCR), else 0

    @property
    def end(self) -> int:
        return self.start + len(self.text)


@dataclass
class Cell:
    text: str
    page: int
    start: int
    end: int
    line: str


@dataclass
class Table:
    page: int
    header: list[Cell]
    rows: list[list[Cell | None]]


@dataclass
class KeyValue:
    label: str
    value: str
    page: int
    line: str  # the text of the line holding the value
    start: int  # span of the value in Document.text
    end: int
    kind: str  # inline | column | below | markup
    order: int = 0
    label_start: int = 0


@dataclass
class Document:
    kind: str
    lines: list[Line] = field(default_factory=list)
    text: str = ""
    pages: int = 1
    key_values: list[KeyValue] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    locale: Locale = US
    title: str | None = None
    warnings: list[str] = field(default_factory=list)

    def line_at(self, offset: int) -> Line | None:
        index = bisect.bisect_right(self.lines, offset, key=lambda line: line.start) - 1
        if index >= 0 and self.lines[index].start <= offset <= self.lines[index].end:
            return self.lines[index]
        return None


class DocumentBuilder:
    """Collects lines (and, for structured formats, explicit key/values and tables)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.lines: list[Line] = []
        self.pages = 1
        self._length = 0
        self.key_values: list[KeyValue] = []
        self.tables: list[Table] = []
        self.title: str | None = None
        self.warnings: list[str] = []
        # Formats whose reader already knows its tables (CSV, XLSX, HTML) skip detection.
        self.detect_tables = True

    def add_line(
        self, page: int, segments: list[tuple[str, float, float]], height: float = 0.0
    ) -> Line | None:
        parts = [Segment(re.sub(r"\s+", " ", text).strip(), x0, x1) for text, x0, x1 in segments]
        parts = [part for part in parts if part.text]
        if not parts:
            return None
        self.pages = max(self.pages, page)
        start = self._length + (1 if self.lines else 0)
        offset = start
        for index, part in enumerate(parts):
            if index:
                offset += len(SEGMENT_JOIN)
            part.start = offset
            offset += len(part.text)
        line = Line(
            page=page,
            segments=parts,
            start=start,
            text=SEGMENT_JOIN.join(part.text for part in parts),
            index=len(self.lines),
            height=height,
        )
        self.lines.append(line)
        self._length = line.end
        return line

    def add_table(self, page: int, rows: list[list[Segment | None]]) -> None:
        """A table whose cells are segments of lines already added (header first)."""
        cells = [
            [self._cell(page, segment) if segment is not None else None for segment in row]
            for row in rows
        ]
        header = [cell or Cell("", page, 0, 0, "") for cell in cells[0]]
        if sum(1 for cell in header if cell.text) >= 1 and len(cells) > 1:
            self.tables.append(Table(page=page, header=header, rows=cells[1:]))

    def add_key_value(self, label: Segment, value: Segment, page: int, kind: str) -> None:
        line = self._line_of(value)
        self.key_values.append(
            KeyValue(
                label=label.text,
                value=value.text,
                page=page,
                line=line.text if line else value.text,
                start=value.start,
                end=value.end,
                kind=kind,
                label_start=label.start,
            )
        )

    def _line_of(self, segment: Segment) -> Line | None:
        index = bisect.bisect_right(self.lines, segment.start, key=lambda line: line.start) - 1
        if index >= 0 and self.lines[index].start <= segment.start <= self.lines[index].end:
            return self.lines[index]
        return None

    def _cell(self, page: int, segment: Segment) -> Cell:
        line = self._line_of(segment)
        return Cell(
            segment.text,
            line.page if line else page,
            segment.start,
            segment.end,
            line.text if line else "",
        )

    def build(self) -> Document:
        text = "\n".join(line.text for line in self.lines)
        document = Document(
            kind=self.kind,
            lines=self.lines,
            text=text,
            pages=self.pages,
            locale=locale_of(text),
            title=self.title,
            warnings=self.warnings,
        )
        if self.detect_tables:
            self.tables.extend(detect_tables(self.lines, self))
        document.tables = self.tables
        document.key_values = self.key_values + derive_key_values(self.lines, document.locale)
        for order, key_value in enumerate(document.key_values):
            key_value.order = order
        return document


# --- Key/value candidates -------------------------------------------------------------------

_LEADER = re.compile(r"\s*(?:\.{3,}|…+|_{3,}|-{3,})\s*")
_COLON = re.compile(r"^(?P<label>[^\W\d][^:]{0,60}?)\s*[:\uff1a]\s*(?P<value>.*)$")
# Several "Label: value" pairs packed into one segment: split before each later label.
_PACKED = re.compile(r"\s+(?=[A-Z][A-Za-z#./&' ]{1,30}[:\uff1a]\s)")


@lru_cache(maxsize=65536)
def is_label(text: str, locale: Locale = US) -> bool:
    """Text that reads like a field label rather than a value."""
    stripped = text.strip().rstrip(":\uff1a").strip()
    if not stripped or len(stripped) > 50 or len(stripped.split()) > 7:
        return False
    if not re.search(r"[^\W\d_]", stripped):
        return False
    if find_dates(stripped, locale) or re.search(r"[$€£¥]", stripped):
        return False
    digits = sum(char.isdigit() for char in stripped)
    letters = sum(char.isalpha() for char in stripped)
    # "Account No." is a label; "Thank you for your business." is a sentence.
    sentence = stripped.endswith(".") and len(stripped.split()) > 3
    # "Energy charge (760 kWh)" still reads as a label; "INV-20931" does not.
    return (digits <= 2 or letters >= 2 * digits) and not sentence


def _valueish(text: str, locale: Locale) -> bool:
    return bool(find_amounts(text, locale) or find_dates(text, locale)) or not is_label(text)


def _split(segment: Segment, at: int, skip: int) -> tuple[Segment, Segment]:
    label_text = segment.text[:at].rstrip()
    value_text = segment.text[at + skip :].lstrip()
    value_start = segment.start + len(segment.text) - len(value_text)
    label = Segment(label_text, segment.x0, segment.x0, segment.start)
    value = Segment(value_text, segment.x0, segment.x1, value_start)
    return label, value


def _colon_pairs(segment: Segment) -> list[tuple[Segment, Segment]]:
    pieces: list[Segment] = []
    last = 0
    first_colon = min(
        (index for index in (segment.text.find(":"), segment.text.find("\uff1a")) if index >= 0),
        default=len(segment.text),
    )
    for match in _PACKED.finditer(segment.text):
        if match.start() <= first_colon:
            continue  # "Bill To: …" is one label, not "Bill" then "To: …"
        pieces.append(
            Segment(
                segment.text[last : match.start()], segment.x0, segment.x1, segment.start + last
            )
        )
        last = match.end()
    pieces.append(Segment(segment.text[last:], segment.x0, segment.x1, segment.start + last))
    pairs = []
    for piece in pieces:
        colon_match = _COLON.match(piece.text)
        if colon_match and not re.match(r"https?$", colon_match.group("label"), re.I):
            mark = ":" if ":" in piece.text else "\uff1a"
            colon = piece.text.index(mark, len(colon_match.group("label")))
            label, value = _split(piece, colon, 1)
            pairs.append((label, value))
    return pairs


def _overlap(a: Segment, b: Segment) -> float:
    return min(a.x1, b.x1) - max(a.x0, b.x0)


def _below(label: Segment, line: Line) -> Segment | None:
    """The segment of ``line`` standing under ``label`` (most horizontal overlap)."""
    best: Segment | None = None
    best_overlap = 0.0
    for segment in line.segments:
        overlap = _overlap(label, segment)
        if overlap > best_overlap:
            best, best_overlap = segment, overlap
    return best


def derive_key_values(lines: list[Line], locale: Locale) -> list[KeyValue]:
    """Label/value candidates from layout: same line (colon, leader dots, a gap), or below."""
    found: list[KeyValue] = []

    def add(label: Segment, value: Segment, line: Line, kind: str) -> None:
        label_text = _LEADER.sub(" ", label.text).strip().rstrip(":\uff1a").strip()
        value_text = value.text.strip()
        if not label_text or not value_text or not re.search(r"[^\W\d_]", label_text):
            return
        found.append(
            KeyValue(
                label=label_text,
                value=value_text,
                page=line.page,
                line=line.text,
                start=value.start,
                end=value.start + len(value_text),
                kind=kind,
                label_start=label.start,
            )
        )

    for index, line in enumerate(lines):
        following = lines[index + 1] if index + 1 < len(lines) else None
        if following is not None and following.page != line.page:
            following = None
        segments = line.segments
        used: set[int] = set()
        for position, segment in enumerate(segments):
            pairs = _colon_pairs(segment)
            for label, value in pairs:
                used.add(position)
                if value.text:
                    add(label, value, line, "inline")
                elif position + 1 < len(segments):
                    add(label, segments[position + 1], line, "inline")
                    used.add(position + 1)
                elif following is not None:
                    below = _below(segment, following) or following.segments[0]
                    add(label, below, following, "below")
            if not pairs:
                leader = _LEADER.search(segment.text)
                if leader and leader.start() > 0 and leader.end() < len(segment.text):
                    label, value = _split(segment, leader.start(), leader.end() - leader.start())
                    add(label, value, line, "inline")
                    used.add(position)
        # "Label      value" pairs across a gap (right-aligned values, two-column layouts).
        position = 0
        while position < len(segments) - 1:
            label, value = segments[position], segments[position + 1]
            if (
                position not in used
                and position + 1 not in used
                and is_label(label.text, locale)
                and (len(segments) == 2 or _valueish(value.text, locale))
            ):
                add(label, value, line, "column")
                position += 2
            else:
                position += 1
        # Labels above values: every label-like segment takes the one standing under it.
        if following is not None and all(is_label(s.text, locale) for s in segments):
            # A heading in large type (the issuer's name) does not label the line under it.
            heading = bool(line.height and following.height) and (
                line.height > 1.3 * following.height
            )
            if (
                len(segments) == 1
                and not heading
                and len(following.segments) >= 1
                and not _COLON.match(segments[0].text)
            ):
                below = _below(segments[0], following) or following.segments[0]
                if not is_label(below.text, locale) or len(following.segments) == 1:
                    add(segments[0], below, following, "below")
            elif len(segments) > 1:
                for segment in segments:
                    under = _below(segment, following)
                    if under is not None:
                        add(segment, under, following, "below")
    return found


# --- Tables ---------------------------------------------------------------------------------

_TOTALS = re.compile(r"\s*(sub\s?-?total|total|tax|balance|amount due|grand|net|vat)", re.I)


def _column_of(segment: Segment, header: list[Segment]) -> int | None:
    best, best_overlap = None, 0.0
    for index, column in enumerate(header):
        overlap = _overlap(segment, column)
        if overlap > best_overlap:
            best, best_overlap = index, overlap
    if best is not None:
        return best
    # No overlap: the nearest column whose span, widened to its neighbours' gaps, holds it.
    center = (segment.x0 + segment.x1) / 2
    for index in range(len(header)):
        left = header[index - 1].x1 if index else float("-inf")
        right = header[index + 1].x0 if index + 1 < len(header) else float("inf")
        if left <= center <= right:
            return index
    return None


def _row(segments: list[Segment], header: list[Segment]) -> list[Segment | None] | None:
    columns = [_column_of(segment, header) for segment in segments]
    if (
        len(segments) < 2
        or None in columns
        or len(set(columns)) != len(columns)
        or not any(re.search(r"\d", segment.text) for segment in segments)
        # "Subtotal:  $301.98" under the last columns: the totals after the table.
        or any(_COLON.match(segment.text) for segment in segments)
        or (0 not in columns and _TOTALS.match(segments[0].text))
    ):
        return None
    row: list[Segment | None] = [None] * len(header)
    for segment, column in zip(segments, columns, strict=True):
        row[column] = segment  # type: ignore[index]
    return row


# A page's running header (logo, "Page 2 of 3", the account) is at most this many lines.
_PAGE_HEADER_LINES = 8


def _resume(lines: list[Line], cursor: int, header: list[Segment]) -> int | None:
    """The first row of the table's continuation on the page starting at ``cursor``
    (skipping the page's header and a repeated column header), or None."""
    page = lines[cursor].page
    header_texts = [segment.text for segment in header]
    for index in range(cursor, min(len(lines), cursor + _PAGE_HEADER_LINES)):
        if lines[index].page != page:
            return None
        if [segment.text for segment in lines[index].segments] == header_texts:
            return index + 1 if index + 1 < len(lines) else None
        if _row(lines[index].segments, header) is not None:
            return index
    return None


def _wrapped(
    lines: list[Line], cursor: int, header: list[Segment], previous: list[Segment | None]
) -> bool:
    """Merge a lone text segment into the cell above it when the table continues below."""
    segments = lines[cursor].segments
    if len(segments) != 1 or cursor + 1 >= len(lines):
        return False
    segment = segments[0]
    column = _column_of(segment, header)
    if column is None or previous[column] is None or _TOTALS.match(segment.text):
        return False
    following = lines[cursor + 1]
    continues = _row(following.segments, header) is not None or any(
        _COLON.match(s.text) or _TOTALS.match(s.text) for s in following.segments
    )
    if not continues or following.page != lines[cursor].page:
        return False
    above = previous[column]
    assert above is not None
    previous[column] = Segment(
        f"{above.text} {segment.text}",
        above.x0,
        max(above.x1, segment.x1),
        above.start,
        segment.end,
    )
    return True


def detect_tables(lines: list[Line], builder: DocumentBuilder) -> list[Table]:
    """Header rows of labels followed by rows whose cells stand under the header's columns."""
    tables: list[Table] = []
    index = 0
    while index < len(lines):
        header_line = lines[index]
        header = header_line.segments
        if len(header) < 2 or not all(is_label(segment.text) for segment in header):
            index += 1
            continue
        rows: list[list[Segment | None]] = []
        cursor = index + 1
        while cursor < len(lines):
            if lines[cursor].page != lines[cursor - 1].page:
                # A new page: the table goes on below its page header, if its rows do.
                resumed = _resume(lines, cursor, header) if rows else None
                if resumed is None:
                    break
                cursor = resumed
            row = _row(lines[cursor].segments, header)
            if row is None and rows:
                # A description wrapped onto the next line: part of the row above, when the
                # table (or its totals) goes on after it.
                wrapped = _wrapped(lines, cursor, header, rows[-1])
                if wrapped:
                    cursor += 1
                    continue
            if row is None:
                break
            rows.append(row)
            cursor += 1
        if rows:
            cells = [
                [builder._cell(header_line.page, segment) if segment else None for segment in row]
                for row in rows
            ]
            tables.append(
                Table(
                    page=header_line.page,
                    header=[builder._cell(header_line.page, segment) for segment in header],
                    rows=cells,
                )
            )
            index = cursor
        else:
            index += 1
    return tables
