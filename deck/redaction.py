"""Keep secrets out of logs and error reports.

Two layers: well-known secret shapes (API keys, webhook secrets, bearer headers) are masked
everywhere, and every plaintext the vault reveals in this process is registered so that any
later log line containing it is masked too.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

from django.http import HttpRequest
from django.views.debug import SafeExceptionReporterFilter

MASK = "[redacted]"
_PATTERNS = [
    re.compile(r"sk_live_[A-Za-z0-9]+"),
    re.compile(r"whsec_[A-Za-z0-9+/=_-]+"),
    re.compile(r"(?i)(bearer\s+)[^\s'\"]+"),
]
# Values shorter than this are too likely to match innocent text to be masked by value.
_MIN_SECRET_LENGTH = 4
_MAX_REMEMBERED = 10_000

_lock = threading.Lock()
_known: dict[str, None] = {}  # insertion-ordered set, oldest evicted first


def register_secret(value: str) -> None:
    """Mask ``value`` in every log record this process writes from now on."""
    if len(value) < _MIN_SECRET_LENGTH:
        return
    with _lock:
        _known.pop(value, None)
        _known[value] = None
        while len(_known) > _MAX_REMEMBERED:
            _known.pop(next(iter(_known)))


def mask_values(value: Any, secrets: set[str]) -> Any:
    """Replace each of ``secrets`` inside every string of a JSON-like structure. A short
    secret (a CVV) is masked where it is a whole value, a longer one wherever it appears."""
    ordered = sorted((s for s in secrets if len(s) >= _MIN_SECRET_LENGTH), key=len, reverse=True)
    if not secrets:
        return value

    def mask(item: Any) -> Any:
        if isinstance(item, str):
            if item in secrets:
                return MASK
            for secret in ordered:
                item = item.replace(secret, MASK)
            return item
        if isinstance(item, dict):
            return {key: mask(child) for key, child in item.items()}
        if isinstance(item, list | tuple):
            return [mask(child) for child in item]
        return item

    return mask(value)


def secret_strings(value: Any) -> set[str]:
    """Every string inside a decoded JSON value."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set().union(*(secret_strings(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(secret_strings(item) for item in value))
    return set()


def redact_data(value: Any) -> Any:
    """``redact`` applied to every string of a JSON-like structure, keys included."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(key)): redact_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(item) for item in value]
    return value


def redact(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(
            lambda m: (m.group(1) if m.lastindex else "") + MASK,
            text,
        )
    with _lock:
        known = list(_known)
    # Longest first, so a secret containing another is masked whole.
    for value in sorted(known, key=len, reverse=True):
        if value in text:
            text = text.replace(value, MASK)
    return text


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


class RedactingExceptionReporterFilter(SafeExceptionReporterFilter):
    """Django's filter, plus: request bodies are never shown (they may hold secrets)."""

    def get_post_parameters(self, request: HttpRequest | None) -> Any:
        if request is None:
            return {}
        return dict.fromkeys(request.POST, self.cleansed_substitute)
