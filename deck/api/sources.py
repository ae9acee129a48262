from __future__ import annotations

from typing import Any

from ninja import Router, Status

from deck.api.deletion import Deleted, deleted
from deck.api.pagination import DEFAULT_LIMIT, Page, paginate
from deck.api.requests import ApiRequest
from tasks import selectors, services
from tasks.models import Source
from tasks.schemas import SourceCreateIn, SourceOut, SourceUpdateIn

router = Router(tags=["Sources"])


class SourceList(Page):
    data: list[SourceOut]


@router.post("", response={201: SourceOut}, summary="Create a source")
def source_create(request: ApiRequest, payload: SourceCreateIn) -> Status[Source]:
    source = services.source_create(
        organization=request.auth,
        name=payload.name,
        url=payload.website.url,
        interaction_timeout_seconds=payload.interaction_timeout_seconds,
    )
    return Status(201, source)


@router.get("", response=SourceList, summary="List sources")
def source_list(
    request: ApiRequest, limit: int = DEFAULT_LIMIT, cursor: str | None = None
) -> dict[str, Any]:
    return paginate(selectors.source_list(organization=request.auth), limit=limit, cursor=cursor)


@router.get("/{source_id}", response=SourceOut, summary="Get a source")
def source_get(request: ApiRequest, source_id: str) -> Source:
    return selectors.source_get(organization=request.auth, source_id=source_id)


@router.patch("/{source_id}", response=SourceOut, summary="Update a source")
def source_update(request: ApiRequest, source_id: str, payload: SourceUpdateIn) -> Source:
    return services.source_update(
        organization=request.auth,
        source_id=source_id,
        name=payload.name,
        url=payload.website.url if payload.website else None,
        interaction_timeout_seconds=payload.interaction_timeout_seconds,
    )


@router.delete("/{source_id}", response=Deleted, summary="Delete a source without credentials")
def source_delete(request: ApiRequest, source_id: str) -> dict[str, Any]:
    services.source_delete(organization=request.auth, source_id=source_id)
    return deleted("source", source_id)
