"""Cursor pagination, newest first: keyset on (created_at, id), so pages stay stable while
rows are inserted (new rows land before the first page, never inside a later one)."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any, TypeVar

from django.db.models import Model, Q, QuerySet
from ninja import Schema

from deck.errors import InvalidInput

M = TypeVar("M", bound=Model)

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class Page(Schema):
    has_more: bool
    next_cursor: str | None


def encode_cursor(created_at: datetime, object_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), object_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, object_id = json.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(created_at), str(object_id)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise InvalidInput("cursor is not a cursor this API returned.", field="cursor") from exc


def paginate(queryset: QuerySet[M], *, limit: int, cursor: str | None) -> dict[str, Any]:
    """One page of ``queryset`` as ``{data, has_more, next_cursor}``."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}.", field="limit")
    queryset = queryset.order_by("-created_at", "-pk")
    if cursor:
        created_at, object_id = decode_cursor(cursor)
        queryset = queryset.filter(
            Q(created_at__lt=created_at) | Q(created_at=created_at, pk__lt=object_id)
        )
    rows = list(queryset[: limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if rows else None
    return {
        "data": rows,
        "has_more": has_more,
        "next_cursor": encode_cursor(last.created_at, last.pk) if has_more and last else None,  # type: ignore[attr-defined]
    }
