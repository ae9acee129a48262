"""The body every DELETE returns: ``{id, object, deleted: true, request_id}``."""

from __future__ import annotations

from typing import Any

from ninja import Schema


class Deleted(Schema):
    id: str
    object: str
    deleted: bool


def deleted(object_name: str, object_id: str) -> dict[str, Any]:
    return {"id": object_id, "object": object_name, "deleted": True}
