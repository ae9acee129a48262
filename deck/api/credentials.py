from __future__ import annotations

from typing import Any, Literal

from ninja import Router, Status

from deck.api.deletion import Deleted, deleted
from deck.api.pagination import DEFAULT_LIMIT, Page, paginate
from deck.api.requests import ApiRequest
from tasks import selectors, services
from tasks.models import Credential
from tasks.schemas import CredentialCreateIn, CredentialOut, CredentialUpdateIn

router = Router(tags=["Credentials"])


class CredentialList(Page):
    data: list[CredentialOut]


@router.post("", response={201: CredentialOut}, summary="Create a credential")
def credential_create(request: ApiRequest, payload: CredentialCreateIn) -> Status[Credential]:
    credential = services.credential_create(
        organization=request.auth,
        source_id=payload.source_id,
        auth_method=payload.auth_method,
        auth_credentials=(
            payload.auth_credentials.dict(exclude_unset=True) if payload.auth_credentials else None
        ),
        external_id=payload.external_id,
    )
    return Status(201, credential)


@router.get("", response=CredentialList, summary="List credentials")
def credential_list(
    request: ApiRequest,
    source_id: str | None = None,
    status: Literal["unverified", "verified", "invalid"] | None = None,
    external_id: str | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> dict[str, Any]:
    credentials = selectors.credential_list(
        organization=request.auth, source_id=source_id, status=status, external_id=external_id
    )
    return paginate(credentials, limit=limit, cursor=cursor)


@router.get("/{credential_id}", response=CredentialOut, summary="Get a credential")
def credential_get(request: ApiRequest, credential_id: str) -> Credential:
    return selectors.credential_get(organization=request.auth, credential_id=credential_id)


@router.patch("/{credential_id}", response=CredentialOut, summary="Update a credential")
def credential_update(
    request: ApiRequest, credential_id: str, payload: CredentialUpdateIn
) -> Credential:
    changes = payload.dict(exclude_unset=True)
    if payload.auth_credentials is not None:
        changes["auth_credentials"] = payload.auth_credentials.dict(exclude_unset=True)
    return services.credential_update(
        organization=request.auth, credential_id=credential_id, changes=changes
    )


@router.delete("/{credential_id}", response=Deleted, summary="Delete a credential")
def credential_delete(request: ApiRequest, credential_id: str) -> dict[str, Any]:
    services.credential_delete(organization=request.auth, credential_id=credential_id)
    return deleted("credential", credential_id)
