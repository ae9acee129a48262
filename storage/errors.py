"""Errors raised by the storage app; the API renders them in the error envelope."""

from __future__ import annotations

from deck.errors import DeckError, InvalidInput, NotFound

__all__ = [
    "DownloadLinkInvalid",
    "FileInvalid",
    "FileTooLarge",
    "InvalidInput",
    "NotFound",
    "ScanUnavailable",
]


class FileInvalid(DeckError):
    """A file input whose ``data`` is not base64, or whose ``storage_id`` is unknown."""

    status = 400
    type = "storage"
    code = "file_invalid"


class FileTooLarge(DeckError):
    status = 413
    type = "storage"
    code = "file_too_large"


class DownloadLinkInvalid(DeckError):
    """A download token that is forged, tampered with, expired or no longer owned."""

    status = 404
    type = "storage"
    code = "download_invalid"


class ScanUnavailable(Exception):
    """The scanner cannot give a verdict (no signatures, daemon down): never 'clean'."""
