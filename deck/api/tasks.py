from __future__ import annotations

from typing import Any, Literal

from ninja import Router, Status

from deck.api.deletion import Deleted, deleted
from deck.api.pagination import DEFAULT_LIMIT, Page, paginate
from deck.api.requests import ApiRequest
from tasks import runs, selectors, services
from tasks.models import Task
from tasks.schemas import (
    RunCreateIn,
    TaskCreateIn,
    TaskOut,
    TaskRunOut,
    TaskScope,
    TaskType,
    TaskUpdateIn,
    run_representation,
)

router = Router(tags=["Tasks"])


class TaskList(Page):
    data: list[TaskOut]


@router.post("", response={201: TaskOut}, summary="Create a task")
def task_create(request: ApiRequest, payload: TaskCreateIn) -> Status[Task]:
    task = services.task_create(
        organization=request.auth,
        task_id=payload.id,
        agent_id=payload.agent_id,
        name=payload.name,
        prompt=payload.prompt,
        input_schema=payload.input_schema,
        output_schema=payload.output_schema,
        storage=payload.storage.dict(exclude_unset=True) if payload.storage else None,
        timeout_seconds=payload.settings.timeout_seconds if payload.settings else None,
        review_required=payload.settings.review_required if payload.settings else None,
        type=payload.type,
        scope=payload.scope,
    )
    return Status(201, task)


@router.get("", response=TaskList, summary="List tasks")
def task_list(
    request: ApiRequest,
    agent_id: str | None = None,
    status: Literal["learning", "test", "live"] | None = None,
    type: TaskType | None = None,
    scope: TaskScope | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> dict[str, Any]:
    tasks = selectors.task_list(
        organization=request.auth, agent_id=agent_id, status=status, type=type, scope=scope
    )
    return paginate(tasks, limit=limit, cursor=cursor)


@router.get("/{task_id}", response=TaskOut, summary="Get a task")
def task_get(request: ApiRequest, task_id: str) -> Task:
    return selectors.task_get(organization=request.auth, task_id=task_id)


@router.patch("/{task_id}", response=TaskOut, summary="Update a task")
def task_update(request: ApiRequest, task_id: str, payload: TaskUpdateIn) -> Task:
    changes = payload.dict(exclude_unset=True)
    for nested in ("storage", "settings"):
        value = getattr(payload, nested)
        if value is not None:
            changes[nested] = value.dict(exclude_unset=True)
    return services.task_update(organization=request.auth, task_id=task_id, changes=changes)


@router.delete("/{task_id}", response=Deleted, summary="Delete a task")
def task_delete(request: ApiRequest, task_id: str) -> dict[str, Any]:
    services.task_delete(organization=request.auth, task_id=task_id)
    return deleted("task", task_id)


@router.post("/{task_id}/reset", response=TaskOut, summary="Reset a task to learning")
def task_reset(request: ApiRequest, task_id: str) -> Task:
    return services.task_reset(organization=request.auth, task_id=task_id)


@router.post("/{task_id}/run", response={201: TaskRunOut}, exclude_unset=True, summary="Run a task")
def task_run(request: ApiRequest, task_id: str, payload: RunCreateIn) -> Status[dict[str, Any]]:
    run = runs.run_create(
        organization=request.auth,
        task_id=task_id,
        input=payload.input,
        credential_id=payload.credential_id,
        source_id=payload.source_id,
        session_id=payload.session_id,
        entity_ids=payload.entity_ids,
        entity_filter=payload.entity_filter.dict() if payload.entity_filter else None,
    )
    return Status(201, run_representation(run))
