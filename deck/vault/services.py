"""Store, reveal, destroy and rotate vault secrets (AES-256-GCM envelope encryption).

A KEK from ``settings.VAULT_KEYS`` wraps each organization's data key; the data key encrypts
token values. The associated data binds a wrapped key to its organization and id, and a
token's ciphertext to its organization, purpose and id, so a ciphertext copied to another
row, organization or purpose fails to decrypt.
"""

from __future__ import annotations

import json
import logging
import os
import threading

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db import IntegrityError, transaction
from django.views.decorators.debug import sensitive_variables

from deck.ids import new_data_key_id, new_token_id
from deck.models import Organization
from deck.redaction import register_secret
from deck.vault.errors import VaultError
from deck.vault.keys import Kek, kek_active, kek_get, kek_ring
from deck.vault.models import DataKey, VaultToken

logger = logging.getLogger("deck.vault")

_NONCE_BYTES = 12  # the size AES-GCM is specified for; random nonces are safe up to 2**32 uses
_CACHE_SIZE = 1024

# Unwrapped data keys by (data key id, kek id). An entry stays valid across a rotation: the
# data key itself never changes, and readers only use an entry whose KEK is still configured.
_cache_lock = threading.Lock()
_data_keys: dict[tuple[str, str], bytes] = {}


def data_key_cache_clear() -> None:
    """Forget every unwrapped data key held by this process."""
    with _cache_lock:
        _data_keys.clear()


def _cache_get(data_key_id: str, kek_id: str) -> bytes | None:
    with _cache_lock:
        return _data_keys.get((data_key_id, kek_id))


def _cache_put(data_key_id: str, kek_id: str, key: bytes) -> None:
    with _cache_lock:
        _data_keys[(data_key_id, kek_id)] = key
        while len(_data_keys) > _CACHE_SIZE:
            _data_keys.pop(next(iter(_data_keys)))


def _aad(*parts: str) -> bytes:
    # JSON keeps the parts unambiguous whatever characters they hold.
    return json.dumps(parts, separators=(",", ":")).encode()


def _data_key_aad(organization_id: str, data_key_id: str) -> bytes:
    return _aad("deck.vault.data_key.v1", organization_id, data_key_id)


def _token_aad(organization_id: str, purpose: str, token_id: str) -> bytes:
    return _aad("deck.vault.token.v1", organization_id, purpose, token_id)


@sensitive_variables()
def _seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


@sensitive_variables()
def _open(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    return AESGCM(key).decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], aad)


@sensitive_variables()
def _wrap(key: bytes, *, kek: Kek, organization_id: str, data_key_id: str) -> bytes:
    return _seal(kek.key, key, _data_key_aad(organization_id, data_key_id))


@sensitive_variables()
def _unwrap(data_key: DataKey) -> bytes:
    """The data key in clear, from the cache or unwrapped by the KEK the row names."""
    kek = kek_get(data_key.kek_id)
    if kek is None:
        raise VaultError(
            f"Data key {data_key.id} is wrapped by key {data_key.kek_id}, which is no longer "
            "in DECK_VAULT_KEYS.",
            code="vault_key_missing",
        )
    key = _cache_get(data_key.id, kek.id)
    if key is None:
        try:
            key = _open(
                kek.key,
                bytes(data_key.wrapped_key),
                _data_key_aad(data_key.organization_id, data_key.id),
            )
        except InvalidTag:
            raise VaultError(f"Data key {data_key.id} cannot be unwrapped.") from None
        _cache_put(data_key.id, kek.id, key)
    return key


@sensitive_variables()
def _data_key_for_store(organization: Organization) -> tuple[DataKey, bytes]:
    data_key = DataKey.objects.filter(organization=organization, active=True).first()
    if data_key is not None:
        return data_key, _unwrap(data_key)
    kek = kek_active()
    key = AESGCM.generate_key(bit_length=256)
    data_key_id = new_data_key_id()
    try:
        # A savepoint, so losing the race leaves a caller's transaction usable.
        with transaction.atomic():
            data_key = DataKey.objects.create(
                id=data_key_id,
                organization=organization,
                wrapped_key=_wrap(
                    key, kek=kek, organization_id=organization.id, data_key_id=data_key_id
                ),
                kek_id=kek.id,
                active=True,
            )
    except IntegrityError:
        # Another first store created the organization's key in the meantime: use theirs.
        data_key = DataKey.objects.get(organization=organization, active=True)
        return data_key, _unwrap(data_key)
    _cache_put(data_key.id, kek.id, key)
    return data_key, key


@sensitive_variables()
def vault_store(*, organization: Organization, purpose: str, plaintext: str) -> str:
    """Not idempotent: each call stores a new token; the org's data key is created at most once."""
    data_key, key = _data_key_for_store(organization)
    token_id = new_token_id()
    VaultToken.objects.create(
        id=token_id,
        organization=organization,
        data_key=data_key,
        purpose=purpose,
        ciphertext=_seal(key, plaintext.encode(), _token_aad(organization.id, purpose, token_id)),
    )
    return token_id


@sensitive_variables()
def vault_reveal(*, organization: Organization, token_id: str, purpose: str) -> str:
    """Read-only; the plaintext is registered with ``deck.redaction`` before it is returned."""
    # Unknown, another organization's, another purpose's and tampered all fail alike, so a
    # caller cannot tell which tokens exist.
    failure = VaultError(f"Vault token {token_id!r} cannot be revealed for {purpose!r}.")
    token = (
        VaultToken.objects.select_related("data_key")
        .filter(pk=token_id, organization=organization)
        .first()
    )
    if token is None:
        raise failure
    key = _unwrap(token.data_key)
    try:
        plaintext = _open(
            key, bytes(token.ciphertext), _token_aad(organization.id, purpose, token.id)
        ).decode()
    except (InvalidTag, UnicodeDecodeError):
        raise failure from None
    register_secret(plaintext)
    return plaintext


def vault_destroy(*, organization: Organization, token_ids: list[str]) -> int:
    """Idempotent: unknown, already destroyed or other organizations' tokens count zero."""
    if not token_ids:
        return 0
    _, per_model = VaultToken.objects.filter(organization=organization, pk__in=token_ids).delete()
    return per_model.get(VaultToken._meta.label, 0)


def _unknown_keks() -> dict[str, int]:
    """KEK ids that data keys reference but ``VAULT_KEYS`` no longer holds, with counts."""
    configured = [kek.id for kek in kek_ring()]
    missing: dict[str, int] = {}
    for kek_id in DataKey.objects.exclude(kek_id__in=configured).values_list("kek_id", flat=True):
        missing[kek_id] = missing.get(kek_id, 0) + 1
    return missing


def vault_rotate() -> int:
    """Idempotent; one short transaction per data key, so readers keep working throughout."""
    missing = _unknown_keks()
    if missing:
        listed = ", ".join(f"{kek_id} ({count} data keys)" for kek_id, count in missing.items())
        raise VaultError(
            f"Data keys are wrapped by keys no longer in DECK_VAULT_KEYS: {listed}. "
            "Add those keys back (after the active one) and rotate again.",
            code="vault_key_missing",
        )
    active = kek_active()
    rewrapped = 0
    stale = list(DataKey.objects.exclude(kek_id=active.id).values_list("pk", flat=True))
    for data_key_id in stale:
        with transaction.atomic():
            data_key = DataKey.objects.select_for_update().filter(pk=data_key_id).first()
            # Deleted, or rewrapped by a concurrent rotation, since the list was read.
            if data_key is None or data_key.kek_id == active.id:
                continue
            _rewrap(data_key, active)
        rewrapped += 1
        logger.info("Rewrapped vault data key %s under key %s", data_key_id, active.id)
    return rewrapped


@sensitive_variables()
def _rewrap(data_key: DataKey, kek: Kek) -> None:
    key = _unwrap(data_key)
    data_key.wrapped_key = _wrap(
        key, kek=kek, organization_id=data_key.organization_id, data_key_id=data_key.id
    )
    data_key.kek_id = kek.id
    data_key.save(update_fields=["wrapped_key", "kek_id", "updated_at"])
    _cache_put(data_key.id, kek.id, key)
