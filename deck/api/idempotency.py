"""``Idempotency-Key``: the first successful response to a key is replayed for 24 hours."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from deck.errors import IdempotencyError
from deck.models import IdempotencyRecord, Organization

MAX_KEY_LENGTH = 256


def request_fingerprint(request: HttpRequest) -> str:
    body = request.body
    # The same JSON with other whitespace or key order is the same request.
    with contextlib.suppress(ValueError):
        body = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    digest = hashlib.sha256()
    for part in (request.method or "", request.path):
        digest.update(part.encode() + b"\0")
    digest.update(body)
    return digest.hexdigest()


def idempotent_response(
    request: HttpRequest,
    *,
    organization: Organization,
    key: str,
    get_response: Callable[[HttpRequest], HttpResponse],
) -> HttpResponse:
    """Runs the request at most once per key; the key is claimed in its own transaction
    before the request runs, so two concurrent requests with one key never both run."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise IdempotencyError(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters.",
            code="idempotency_key_error",
            status=400,
        )
    fingerprint = request_fingerprint(request)
    expired_before = timezone.now() - settings.DECK_IDEMPOTENCY_TTL
    IdempotencyRecord.objects.filter(
        organization=organization, key=key, created_at__lt=expired_before
    ).delete()
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(
                organization=organization, key=key, request_hash=fingerprint
            )
    except IntegrityError:
        existing = IdempotencyRecord.objects.filter(organization=organization, key=key).first()
        if existing is None or existing.status_code is None:
            raise IdempotencyError(
                "A request with this Idempotency-Key is still being processed; retry later.",
                code="idempotency_error",
                status=409,
            ) from None
        if existing.request_hash != fingerprint:
            raise IdempotencyError(
                "This Idempotency-Key was already used with a different request.",
                code="idempotency_error",
                status=409,
            ) from None
        replay = HttpResponse(
            bytes(existing.response_body or b""),
            status=existing.status_code,
            content_type="application/json",
        )
        replay["Idempotent-Replayed"] = "true"
        return replay

    try:
        response = get_response(request)
    except BaseException:
        record.delete()
        raise
    if 200 <= response.status_code < 300 and not getattr(response, "streaming", False):
        record.status_code = response.status_code
        record.response_body = response.content
        record.save(update_fields=["status_code", "response_body"])
    else:
        # Only successes are remembered: a client may fix its request and retry the key.
        record.delete()
    return response


def idempotency_prune() -> int:
    """Deletes records past their 24 hours. Idempotent."""
    expired_before = timezone.now() - settings.DECK_IDEMPOTENCY_TTL
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=expired_before).delete()
    return deleted
