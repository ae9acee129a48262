"""Key-encryption keys (KEKs) from ``settings.VAULT_KEYS``; the first one is active.

Each entry is the urlsafe base64 encoding (padding optional) of 32 random bytes. A key is
known by its id, a short fingerprint stored next to everything it wraps, so that readers
pick the right key while a rotation is under way.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

KEY_BYTES = 32
SETTING = "DECK_VAULT_KEYS"


@dataclass(frozen=True)
class Kek:
    id: str
    key: bytes = field(repr=False)


def kek_id_for(key: bytes) -> str:
    # 64 bits of a hash of 256 random bits: stable, unique enough, and reveals nothing.
    return hashlib.sha256(key).hexdigest()[:16]


def kek_parse(raw: str, *, position: int = 1) -> Kek:
    """Decode one configured key; a malformed one is a configuration error (never echoed)."""
    if not isinstance(raw, str):
        raise ImproperlyConfigured(f"{SETTING} entry {position} is not a string.")
    text = raw.strip().replace("+", "-").replace("/", "_")
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise ImproperlyConfigured(
            f"{SETTING} entry {position} is not valid base64; each key must be the urlsafe "
            f"base64 encoding of {KEY_BYTES} random bytes."
        ) from None
    if len(key) != KEY_BYTES:
        raise ImproperlyConfigured(
            f"{SETTING} entry {position} decodes to {len(key)} bytes; each key must be the "
            f"urlsafe base64 encoding of {KEY_BYTES} random bytes."
        )
    return Kek(id=kek_id_for(key), key=key)


@functools.lru_cache(maxsize=8)
def _ring(raw_keys: tuple[str, ...]) -> tuple[Kek, ...]:
    return tuple(kek_parse(raw, position=n) for n, raw in enumerate(raw_keys, start=1))


def kek_ring() -> tuple[Kek, ...]:
    """Every configured KEK, active first. Raises ``ImproperlyConfigured`` if malformed."""
    raw_keys = getattr(settings, "VAULT_KEYS", None)
    if isinstance(raw_keys, str) or not isinstance(raw_keys, (list, tuple)):
        raise ImproperlyConfigured(f"{SETTING} must be a list of keys.")
    if not raw_keys:
        raise ImproperlyConfigured(f"{SETTING} is empty; the vault needs at least one key.")
    return _ring(tuple(raw_keys))


def kek_active() -> Kek:
    return kek_ring()[0]


def kek_get(kek_id: str) -> Kek | None:
    return next((kek for kek in kek_ring() if kek.id == kek_id), None)
