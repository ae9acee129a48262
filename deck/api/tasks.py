from __future__ import annotations

from typing import Any, Literal

from django.db.models import Count
from ninja import Router, Status

from deck.api.deletion import Deleted, deleted
from deck.api.pagination import DEFAULT_LIMIT, Page, paginate
from deck.api.requests import ApiRequest
from tasks import runs, selectors, services
from tasks.models import Playbook, Task
from tasks.schemas import (
    PlaybookDetailOut,
    PlaybookOut,
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


class PlaybookList(Page):
    data: list[PlaybookOut]


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
    # One query for the page's playbook counts instead of one per task.
    tasks = tasks.annotate(playbook_versions_count=Count("playbooks"))
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


@router.get("/{task_id}/playbooks", response=PlaybookList, summary="List a task's playbooks")
def playbook_list(
    request: ApiRequest,
    task_id: str,
    source_id: str | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> dict[str, Any]:
    """What the agent learned: one version per change, newest first."""
    playbooks = selectors.playbook_list(
        organization=request.auth, task_id=task_id, source_id=source_id
    )
    return paginate(playbooks, limit=limit, cursor=cursor)


@router.get("/{task_id}/playbooks/{version}", response=PlaybookDetailOut, summary="Get a playbook")
def playbook_get(
    request: ApiRequest, task_id: str, version: int, source_id: str | None = None
) -> Playbook:
    return selectors.playbook_get(
        organization=request.auth, task_id=task_id, version=version, source_id=source_id
    )
