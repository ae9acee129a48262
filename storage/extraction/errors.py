"""The one error the extraction engine raises."""

from __future__ import annotations

from deck.errors import DeckError


class ExtractionError(DeckError):
    """The file cannot be read or parsed, or its type is not supported.

    Carries ``extraction_failed`` so a run failing on it reports the code the product documents.
    """

    status = 422
    type = "extraction"
    code = "extraction_failed"
