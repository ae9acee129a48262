"""Document extraction: PDFs, spreadsheets, web pages, images and text → schema-shaped JSON.

from storage.extraction import extract, ExtractionError, ExtractionResult
result = extract(data=b"...", file_name="bill.pdf", content_type="application/pdf",
                 schema={...}, prompt="", model=None)
"""

from __future__ import annotations

from storage.extraction.engine import ExtractionResult, extract
from storage.extraction.errors import ExtractionError

__all__ = ["ExtractionError", "ExtractionResult", "extract"]
