from __future__ import annotations

from typing import Any

from ninja import Router, Status

from deck.api.deletion import Deleted, deleted
from deck.api.pagination import DEFAULT_LIMIT, Page, paginate
from deck.api.requests import ApiRequest
from tasks import selectors, services
from tasks.models import Agent
from tasks.schemas import AgentCreateIn, AgentOut, AgentUpdateIn

router = Router(tags=["Agents"])


class AgentList(Page):
    data: list[AgentOut]


@router.post("", response={201: AgentOut}, summary="Create an agent")
def agent_create(request: ApiRequest, payload: AgentCreateIn) -> Status[Agent]:
    agent = services.agent_create(organization=request.auth, **payload.dict())
    return Status(201, selectors.agent_get(organization=request.auth, agent_id=agent.id))


@router.get("", response=AgentList, summary="List agents")
def agent_list(
    request: ApiRequest, limit: int = DEFAULT_LIMIT, cursor: str | None = None
) -> dict[str, Any]:
    agents = selectors.agent_list(organization=request.auth)
    return paginate(agents, limit=limit, cursor=cursor)


@router.get("/{agent_id}", response=AgentOut, summary="Get an agent")
def agent_get(request: ApiRequest, agent_id: str) -> Agent:
    return selectors.agent_get(organization=request.auth, agent_id=agent_id)


@router.patch("/{agent_id}", response=AgentOut, summary="Update an agent")
def agent_update(request: ApiRequest, agent_id: str, payload: AgentUpdateIn) -> Agent:
    services.agent_update(
        organization=request.auth, agent_id=agent_id, changes=payload.dict(exclude_unset=True)
    )
    return selectors.agent_get(organization=request.auth, agent_id=agent_id)


@router.delete("/{agent_id}", response=Deleted, summary="Delete an agent without tasks")
def agent_delete(request: ApiRequest, agent_id: str) -> dict[str, Any]:
    services.agent_delete(organization=request.auth, agent_id=agent_id)
    return deleted("agent", agent_id)
