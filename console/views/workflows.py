"""Workflows: the list, the create and edit forms, each workflow's page with its Run form,
and each workflow run's live page with its steps."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRefresh

from console.forms import WorkflowForm, WorkflowRunForm
from console.membership import ConsoleRequest, organization_required
from console.shortcuts import get_or_404, paginate, redirect_after_post, render_page
from tasks import selectors, workflows
from tasks.errors import DeckError
from tasks.models import Workflow, WorkflowRun

RECENT_RUNS = 10
POLL_TARGET = "workflow-run-header"


@require_GET
@login_required
@organization_required
def workflows_list(request: ConsoleRequest) -> HttpResponse:
    listed = selectors.workflow_list(organization=request.organization).order_by("-created_at")
    context = {"page": paginate(request, listed)}
    return render_page(request, "console/workflows.html", context, partial="table")


def _render_form(
    request: ConsoleRequest, form: WorkflowForm, workflow: Workflow | None = None
) -> HttpResponse:
    context = {
        "form": form,
        "workflow": workflow,
        "tasks": list(selectors.task_list(organization=request.organization).order_by("name")),
    }
    return render_page(request, "console/workflows_form.html", context, partial="form")


@require_GET
@login_required
@organization_required
def workflows_new(request: ConsoleRequest) -> HttpResponse:
    return _render_form(request, WorkflowForm())


@require_POST
@login_required
@organization_required
def workflows_create(request: ConsoleRequest) -> HttpResponse:
    form = WorkflowForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            workflow = workflows.workflow_create(
                organization=request.organization,
                name=data["name"],
                description=data["description"],
                input_schema=data["input_schema"],
                steps=data["steps"],
            )
        except DeckError as error:
            form.add_deck_error(error)
        else:
            messages.success(request, f"Created the workflow {workflow.name}.")
            url = reverse("console:workflows_detail", args=[workflow.id])
            return redirect_after_post(request, url)
    return _render_form(request, form)


def _workflow(request: ConsoleRequest, workflow_id: str) -> Workflow:
    workflow: Workflow = get_or_404(
        selectors.workflow_get, organization=request.organization, workflow_id=workflow_id
    )
    return workflow


@require_GET
@login_required
@organization_required
def workflows_edit(request: ConsoleRequest, workflow_id: str) -> HttpResponse:
    workflow = _workflow(request, workflow_id)
    initial = {
        "name": workflow.name,
        "description": workflow.description,
        "input_schema": workflow.input_schema,
        "steps": workflow.steps,
    }
    return _render_form(request, WorkflowForm(initial=initial), workflow)


@require_POST
@login_required
@organization_required
def workflows_update(request: ConsoleRequest, workflow_id: str) -> HttpResponse:
    workflow = _workflow(request, workflow_id)
    form = WorkflowForm(request.POST)
    if form.is_valid():
        try:
            workflows.workflow_update(
                organization=request.organization,
                workflow_id=workflow.id,
                changes=form.cleaned_data,
            )
        except DeckError as error:
            form.add_deck_error(error)
        else:
            messages.success(request, "Saved. Runs already started keep their steps.")
            url = reverse("console:workflows_detail", args=[workflow.id])
            return redirect_after_post(request, url)
    return _render_form(request, form, workflow)


def _run_form(request: ConsoleRequest, data: object = None) -> WorkflowRunForm:
    credentials = list(
        selectors.credential_list(organization=request.organization)
        .select_related("source")
        .order_by("source__name", "username")
    )
    return WorkflowRunForm(data, credentials=credentials)


def _render_detail(
    request: ConsoleRequest, workflow: Workflow, run_form: WorkflowRunForm
) -> HttpResponse:
    task_names = dict(
        selectors.task_list(organization=request.organization)
        .filter(pk__in=[step["task_id"] for step in workflow.steps])
        .values_list("id", "name")
    )
    steps = [
        {**step, "index": index, "task_name": task_names.get(step["task_id"])}
        for index, step in enumerate(workflow.steps)
    ]
    recent = selectors.workflow_run_list(
        organization=request.organization, workflow_id=workflow.id
    ).order_by("-created_at")
    context = {
        "workflow": workflow,
        "steps": steps,
        "recent_runs": recent[:RECENT_RUNS],
        "run_count": recent.count(),
        "run_form": run_form,
    }
    return render_page(request, "console/workflows_detail.html", context, partial="run_form")


@require_GET
@login_required
@organization_required
def workflows_detail(request: ConsoleRequest, workflow_id: str) -> HttpResponse:
    workflow = _workflow(request, workflow_id)
    return _render_detail(request, workflow, _run_form(request))


@require_POST
@login_required
@organization_required
def workflows_run(request: ConsoleRequest, workflow_id: str) -> HttpResponse:
    workflow = _workflow(request, workflow_id)
    form = _run_form(request, request.POST)
    if form.is_valid():
        try:
            workflow_run = workflows.workflow_run_start(
                organization=request.organization,
                workflow_id=workflow.id,
                input=form.cleaned_data["input"] or {},
                credential_id=form.cleaned_data["credential"],
            )
        except DeckError as error:
            form.add_deck_error(error)
        else:
            messages.success(request, "Workflow run queued. This page follows it as it goes.")
            url = reverse("console:workflows_runs_detail", args=[workflow_run.id])
            return redirect_after_post(request, url)
    return _render_detail(request, workflow, form)


@require_POST
@login_required
@organization_required
def workflows_delete(request: ConsoleRequest, workflow_id: str) -> HttpResponse:
    workflow = _workflow(request, workflow_id)
    try:
        workflows.workflow_delete(organization=request.organization, workflow_id=workflow.id)
    except DeckError as error:
        messages.error(request, error.message)
        return redirect_after_post(request, reverse("console:workflows_detail", args=[workflow.id]))
    messages.success(request, f"Deleted the workflow {workflow.name}.")
    return redirect_after_post(request, reverse("console:workflows"))


def _workflow_run(request: ConsoleRequest, workflow_run_id: str) -> WorkflowRun:
    workflow_run: WorkflowRun = get_or_404(
        selectors.workflow_run_get,
        organization=request.organization,
        workflow_run_id=workflow_run_id,
    )
    return workflow_run


@require_GET
@login_required
@organization_required
def workflows_runs_detail(request: ConsoleRequest, workflow_run_id: str) -> HttpResponse:
    workflow_run = _workflow_run(request, workflow_run_id)
    template = "console/workflows_runs_detail.html"
    if request.htmx and request.htmx.target == POLL_TARGET:
        seen = request.GET.get("seen")
        if seen and seen != workflow_run.status:
            return HttpResponseClientRefresh()  # the steps and actions changed too
    step_runs = list(selectors.workflow_run_steps(workflow_run=workflow_run).select_related("task"))
    steps = [
        {
            "index": index,
            "step": step,
            "runs": [run for run in step_runs if run.workflow_step == index],
            "output": workflow_run.outputs[index] if index < len(workflow_run.outputs) else None,
        }
        for index, step in enumerate(workflow_run.steps)
    ]
    context = {"workflow_run": workflow_run, "steps": steps, "poll_target": POLL_TARGET}
    partial = "body" if request.htmx and request.htmx.target == POLL_TARGET else None
    return render_page(request, template, context, partial=partial)


@require_POST
@login_required
@organization_required
def workflows_runs_cancel(request: ConsoleRequest, workflow_run_id: str) -> HttpResponse:
    workflow_run = _workflow_run(request, workflow_run_id)
    try:
        workflows.workflow_run_cancel(
            organization=request.organization, workflow_run_id=workflow_run.id
        )
    except DeckError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Workflow run canceled, with its current step.")
    url = reverse("console:workflows_runs_detail", args=[workflow_run.id])
    return redirect_after_post(request, url)
