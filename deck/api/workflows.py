from __future__ import annotations

from typing import Any, Literal

from ninja import Router, Status

from deck.api.deletion import Deleted, deleted
from deck.api.pagination import DEFAULT_LIMIT, Page, paginate
from deck.api.requests import ApiRequest
from tasks import selectors, workflows
from tasks.errors import InvalidInput
from tasks.models import Workflow
from tasks.schemas import (
    WorkflowCreateIn,
    WorkflowOut,
    WorkflowRunIn,
    WorkflowRunOut,
    WorkflowUpdateIn,
    workflow_run_representation,
)

router = Router(tags=["Workflows"])
runs_router = Router(tags=["Workflow runs"])

WorkflowRunStatus = Literal[
    "queued", "running", "interaction_required", "completed", "failed", "canceled"
]


class WorkflowList(Page):
    data: list[WorkflowOut]


class WorkflowRunList(Page):
    data: list[WorkflowRunOut]


@router.post("", response={201: WorkflowOut}, summary="Create a workflow")
def workflow_create(request: ApiRequest, payload: WorkflowCreateIn) -> Status[Workflow]:
    workflow = workflows.workflow_create(
        organization=request.auth,
        name=payload.name,
        description=payload.description,
        input_schema=payload.input_schema,
        steps=payload.steps,
    )
    return Status(201, workflow)


@router.get("", response=WorkflowList, summary="List workflows")
def workflow_list(
    request: ApiRequest, limit: int = DEFAULT_LIMIT, cursor: str | None = None
) -> dict[str, Any]:
    return paginate(selectors.workflow_list(organization=request.auth), limit=limit, cursor=cursor)


@router.get("/{workflow_id}", response=WorkflowOut, summary="Get a workflow")
def workflow_get(request: ApiRequest, workflow_id: str) -> Workflow:
    return selectors.workflow_get(organization=request.auth, workflow_id=workflow_id)


@router.patch("/{workflow_id}", response=WorkflowOut, summary="Update a workflow")
def workflow_update(request: ApiRequest, workflow_id: str, payload: WorkflowUpdateIn) -> Workflow:
    return workflows.workflow_update(
        organization=request.auth,
        workflow_id=workflow_id,
        changes=payload.dict(exclude_unset=True),
    )


@router.delete("/{workflow_id}", response=Deleted, summary="Delete a workflow")
def workflow_delete(request: ApiRequest, workflow_id: str) -> dict[str, Any]:
    workflows.workflow_delete(organization=request.auth, workflow_id=workflow_id)
    return deleted("workflow", workflow_id)


@router.post(
    "/{workflow_id}/run",
    response={201: WorkflowRunOut},
    exclude_unset=True,
    summary="Run a workflow",
)
def workflow_run(
    request: ApiRequest, workflow_id: str, payload: WorkflowRunIn
) -> Status[dict[str, Any]]:
    workflow_run = workflows.workflow_run_start(
        organization=request.auth,
        workflow_id=workflow_id,
        input=payload.input,
        credential_id=payload.credential_id,
        session_id=payload.session_id,
    )
    steps = selectors.workflow_run_steps(workflow_run=workflow_run)
    return Status(201, workflow_run_representation(workflow_run, step_runs=list(steps)))


@runs_router.get("", response=WorkflowRunList, exclude_unset=True, summary="List workflow runs")
def workflow_run_list(
    request: ApiRequest,
    status: WorkflowRunStatus | None = None,
    workflow_id: str | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> dict[str, Any]:
    queryset = selectors.workflow_run_list(
        organization=request.auth, status=status, workflow_id=workflow_id
    )
    page = paginate(queryset, limit=limit, cursor=cursor)
    page["data"] = [workflow_run_representation(run) for run in page["data"]]
    return page


@runs_router.get(
    "/{workflow_run_id}", response=WorkflowRunOut, exclude_unset=True, summary="Get a workflow run"
)
def workflow_run_get(
    request: ApiRequest, workflow_run_id: str, include: str | None = None
) -> dict[str, Any]:
    if include not in (None, "", "input"):
        raise InvalidInput("include takes input.", field="include")
    workflow_run = selectors.workflow_run_get(
        organization=request.auth, workflow_run_id=workflow_run_id
    )
    steps = selectors.workflow_run_steps(workflow_run=workflow_run)
    return workflow_run_representation(
        workflow_run, include_input=include == "input", step_runs=list(steps)
    )


@runs_router.post(
    "/{workflow_run_id}/cancel",
    response=WorkflowRunOut,
    exclude_unset=True,
    summary="Cancel a workflow run and its current step",
)
def workflow_run_cancel(request: ApiRequest, workflow_run_id: str) -> dict[str, Any]:
    workflow_run = workflows.workflow_run_cancel(
        organization=request.auth, workflow_run_id=workflow_run_id
    )
    return workflow_run_representation(workflow_run)
