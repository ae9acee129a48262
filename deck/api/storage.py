from __future__ import annotations

from typing import Any

from ninja import Router

from deck.api.pagination import DEFAULT_LIMIT, Page, paginate
from deck.api.requests import ApiRequest
from storage import selectors
from storage.schemas import StorageOut, storage_representation

router = Router(tags=["Storage"])
run_storage_router = Router(tags=["Storage"])


class StorageList(Page):
    data: list[StorageOut]


@router.get("/{storage_id}", response=StorageOut, summary="Get a storage item")
def storage_get(request: ApiRequest, storage_id: str) -> dict[str, Any]:
    """The item with its extraction and a fresh signed download ``url``."""
    item = selectors.storage_get(organization=request.auth, storage_id=storage_id)
    return storage_representation(item)


@run_storage_router.get(
    "/{run_id}/storage", response=StorageList, summary="List a task run's storage items"
)
def run_storage_list(
    request: ApiRequest, run_id: str, limit: int = DEFAULT_LIMIT, cursor: str | None = None
) -> dict[str, Any]:
    items = selectors.run_storage_list(organization=request.auth, run_id=run_id)
    page = paginate(items, limit=limit, cursor=cursor)
    page["data"] = [storage_representation(item) for item in page["data"]]
    return page
