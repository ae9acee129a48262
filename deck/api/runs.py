from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any, Literal

from ninja import Query, Router, Schema
from pydantic import Field

from deck.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, paginate
from deck.api.requests import ApiRequest
from tasks import runs, selectors
from tasks.errors import InvalidInput
from tasks.models import Session
from tasks.schemas import (
    RUN_INCLUDES,
    InteractionAnswerIn,
    Screenshot,
    SessionOut,
    TaskRunOut,
    run_representation,
    screenshot_representation,
)

router = Router(tags=["Task runs"])
sessions_router = Router(tags=["Sessions"])

RunStatus = Literal[
    "queued",
    "running",
    "interaction_required",
    "review_required",
    "completed",
    "failed",
    "canceling",
    "canceled",
]


class TaskRunList(Page):
    data: list[TaskRunOut]


class RunFilters(Schema):
    status: list[RunStatus] = Field(default_factory=list, alias="status[]")
    result: list[Literal["success", "failure", "unknown"]] = Field(
        default_factory=list, alias="result[]"
    )
    task_id: str | None = None
    agent_id: str | None = None
    credential_id: str | None = None
    source_id: str | None = None
    session_id: str | None = None
    workflow_id: str | None = None
    workflow_run_id: str | None = None
    parent_id: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


class ScreenshotList(Page):
    data: list[Screenshot]


class RejectIn(Schema):
    reason: str = Field("", max_length=2000)


def _includes(include: str | None) -> frozenset[str]:
    names = frozenset(part.strip() for part in (include or "").split(",") if part.strip())
    unknown = names - RUN_INCLUDES
    if unknown:
        raise InvalidInput(
            f"include takes {', '.join(sorted(RUN_INCLUDES))}; not {', '.join(sorted(unknown))}.",
            field="include",
        )
    return names


@router.get("", response=TaskRunList, exclude_unset=True, summary="List task runs")
def run_list(
    request: ApiRequest,
    filters: Query[RunFilters],
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> dict[str, Any]:
    queryset = selectors.run_list(organization=request.auth, filters=filters.dict())
    page = paginate(queryset, limit=limit, cursor=cursor)
    page["data"] = [run_representation(run) for run in page["data"]]
    return page


@router.get("/{run_id}", response=TaskRunOut, exclude_unset=True, summary="Get a task run")
def run_get(request: ApiRequest, run_id: str, include: str | None = None) -> dict[str, Any]:
    run = selectors.run_get(organization=request.auth, run_id=run_id)
    return run_representation(run, _includes(include))


@router.get(
    "/{run_id}/screenshots",
    response=ScreenshotList,
    summary="List a run's screenshots (oldest first)",
)
def run_screenshots(
    request: ApiRequest, run_id: str, limit: int = DEFAULT_LIMIT, cursor: str | None = None
) -> dict[str, Any]:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}.", field="limit")
    after = 0
    if cursor:
        try:
            after = int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
        except (ValueError, binascii.Error) as exc:
            raise InvalidInput("cursor is not a cursor this API returned.", field="cursor") from exc
    steps = list(
        selectors.run_screenshots(organization=request.auth, run_id=run_id, after=after)[
            : limit + 1
        ]
    )
    has_more = len(steps) > limit
    steps = steps[:limit]
    next_cursor = None
    if has_more:
        next_cursor = base64.urlsafe_b64encode(str(steps[-1].sequence).encode()).decode()
    return {
        "data": [screenshot_representation(step, request.auth.id) for step in steps],
        "has_more": has_more,
        "next_cursor": next_cursor.rstrip("=") if next_cursor else None,
    }


@router.post("/{run_id}/cancel", response=TaskRunOut, exclude_unset=True, summary="Cancel a run")
def run_cancel(request: ApiRequest, run_id: str) -> dict[str, Any]:
    return run_representation(runs.run_cancel(organization=request.auth, run_id=run_id))


@router.post(
    "/{run_id}/interaction",
    response=TaskRunOut,
    exclude_unset=True,
    summary="Answer the run's interaction",
)
def run_interaction(
    request: ApiRequest, run_id: str, payload: InteractionAnswerIn
) -> dict[str, Any]:
    run = runs.run_answer(organization=request.auth, run_id=run_id, answer=payload.input)
    return run_representation(run)


@router.post("/{run_id}/approve", response=TaskRunOut, exclude_unset=True, summary="Approve")
def run_approve(request: ApiRequest, run_id: str) -> dict[str, Any]:
    return run_representation(runs.run_approve(organization=request.auth, run_id=run_id))


@router.post("/{run_id}/reject", response=TaskRunOut, exclude_unset=True, summary="Reject")
def run_reject(request: ApiRequest, run_id: str, payload: RejectIn | None = None) -> dict[str, Any]:
    run = runs.run_reject(
        organization=request.auth, run_id=run_id, reason=payload.reason if payload else ""
    )
    return run_representation(run)


class SessionList(Page):
    data: list[SessionOut]


@sessions_router.get("", response=SessionList, summary="List sessions")
def session_list(
    request: ApiRequest,
    status: Literal["queued", "running", "idle", "completed", "failed"] | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> dict[str, Any]:
    sessions = selectors.session_list(organization=request.auth, status=status)
    return paginate(sessions, limit=limit, cursor=cursor)


@sessions_router.get("/{session_id}", response=SessionOut, summary="Get a session")
def session_get(request: ApiRequest, session_id: str) -> Session:
    return selectors.session_get(organization=request.auth, session_id=session_id)


@sessions_router.post("/{session_id}/end", response=SessionOut, summary="End a session")
def session_end(request: ApiRequest, session_id: str) -> Session:
    return runs.session_end(organization=request.auth, session_id=session_id)
