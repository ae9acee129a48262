from __future__ import annotations

from typing import Any

from ninja import Router

from deck.api.pagination import DEFAULT_LIMIT, Page, paginate
from deck.api.requests import ApiRequest
from tasks import selectors
from tasks.models import Entity
from tasks.schemas import EntityOut

router = Router(tags=["Entities"])


class EntityList(Page):
    data: list[EntityOut]


@router.get("", response=EntityList, summary="List entities")
def entity_list(
    request: ApiRequest,
    credential_id: str | None = None,
    type: str | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> dict[str, Any]:
    entities = selectors.entity_list(
        organization=request.auth, credential_id=credential_id, type=type
    )
    return paginate(entities, limit=limit, cursor=cursor)


@router.get("/{entity_id}", response=EntityOut, summary="Get an entity")
def entity_get(request: ApiRequest, entity_id: str) -> Entity:
    return selectors.entity_get(organization=request.auth, entity_id=entity_id)
