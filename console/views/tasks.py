"""Tasks: the list, the create form, and each task's page with its Run form and Reset."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from console.forms import TaskForm
from console.membership import ConsoleRequest, organization_required
from console.schema_forms import RunForm
from console.shortcuts import get_or_404, paginate, redirect_after_post, render_page
from tasks import runs, selectors, services
from tasks.errors import DeckError
from tasks.models import STAGE_SUCCESSES_REQUIRED, Agent, Task

RECENT_RUNS = 10


@require_GET
@login_required
@organization_required
def tasks(request: ConsoleRequest) -> HttpResponse:
    organization = request.organization
    agents = list(selectors.agent_list(organization=organization).order_by("name"))
    agent_id = request.GET.get("agent", "")
    status = request.GET.get("status", "")
    kind = request.GET.get("type", "")
    scope = request.GET.get("scope", "")
    listed = (
        selectors.task_list(
            organization=organization,
            agent_id=agent_id if agent_id in {a.id for a in agents} else None,
            status=status if status in Task.Status.values else None,
            type=kind if kind in Task.Type.values else None,
            scope=scope if scope in Task.Scope.values else None,
        )
        .select_related("agent")
        .order_by("-created_at")
    )
    context = {
        "page": paginate(request, listed),
        "agents": agents,
        "statuses": Task.Status.choices,
        "types": Task.Type.choices,
        "scopes": Task.Scope.choices,
        "filters": {"agent": agent_id, "status": status, "type": kind, "scope": scope},
        "required": STAGE_SUCCESSES_REQUIRED,
    }
    return render_page(request, "console/tasks.html", context, partial="table")


def _agents(request: ConsoleRequest) -> list[Agent]:
    return list(selectors.agent_list(organization=request.organization).order_by("name"))


def _render_form(request: ConsoleRequest, form: TaskForm, agents: list[Agent]) -> HttpResponse:
    context = {"form": form, "has_agents": bool(agents)}
    return render_page(request, "console/tasks_form.html", context, partial="form")


@require_GET
@login_required
@organization_required
def tasks_new(request: ConsoleRequest) -> HttpResponse:
    agents = _agents(request)
    form = TaskForm(agents=agents, initial={"agent": request.GET.get("agent")})
    return _render_form(request, form, agents)


@require_POST
@login_required
@organization_required
def tasks_create(request: ConsoleRequest) -> HttpResponse:
    agents = _agents(request)
    form = TaskForm(request.POST, agents=agents)
    if form.is_valid():
        data = form.cleaned_data
        try:
            task = services.task_create(
                organization=request.organization,
                agent_id=data["agent"],
                name=data["name"],
                prompt=data["prompt"],
                input_schema=data["input_schema"],
                output_schema=data["output_schema"],
                storage=form.storage(),
                timeout_seconds=data["timeout_seconds"],
                review_required=data["review_required"],
                type=data["type"] or None,
                scope=data["scope"] or None,
            )
        except DeckError as error:
            form.add_deck_error(error)
        else:
            messages.success(request, f"Created the task {task.name}. It starts out learning.")
            return redirect_after_post(request, reverse("console:tasks_detail", args=[task.id]))
    return _render_form(request, form, agents)


def _task(request: ConsoleRequest, task_id: str) -> Task:
    return get_or_404(selectors.task_get, organization=request.organization, task_id=task_id)


def _run_form(request: ConsoleRequest, task: Task, data: Any = None) -> RunForm:
    organization = request.organization
    return RunForm(
        data,
        task=task,
        credentials=list(
            selectors.credential_list(organization=organization)
            .select_related("source")
            .order_by("source__name", "username")
        ),
        sources=list(selectors.source_list(organization=organization).order_by("name")),
        entities=list(
            selectors.entity_list(organization=organization)
            .select_related("credential")
            .order_by("credential__username", "type", "external_id")[:500]
        ),
    )


def _render_detail(request: ConsoleRequest, task: Task, run_form: RunForm) -> HttpResponse:
    next_status = Task.NEXT_STATUS.get(Task.Status(task.status))
    recent = (
        selectors.run_list(organization=request.organization, filters={"task_id": task.id})
        .select_related("credential")
        .order_by("-created_at")
    )
    context = {
        "task": task,
        "next_status": next_status,
        "required": STAGE_SUCCESSES_REQUIRED,
        "recent_runs": recent[:RECENT_RUNS],
        "run_count": recent.count(),
        "run_form": run_form,
        "playbooks": selectors.playbook_list(organization=request.organization, task_id=task.id)
        .select_related("source")
        .order_by("-created_at")[:5],
    }
    return render_page(request, "console/tasks_detail.html", context, partial="run_form")


@require_GET
@login_required
@organization_required
def tasks_detail(request: ConsoleRequest, task_id: str) -> HttpResponse:
    task = _task(request, task_id)
    return _render_detail(request, task, _run_form(request, task))


@require_POST
@login_required
@organization_required
def tasks_run(request: ConsoleRequest, task_id: str) -> HttpResponse:
    task = _task(request, task_id)
    form = _run_form(request, task, request.POST)
    if form.is_valid():
        credential_id, source_id = form.target_ids()
        try:
            run = runs.run_create(
                organization=request.organization,
                task_id=task.id,
                input=form.run_input(),
                credential_id=credential_id,
                source_id=source_id,
                entity_ids=form.entity_ids(),
            )
        except DeckError as error:
            form.add_deck_error(error)
        else:
            messages.success(request, "Run queued. This page follows it as it goes.")
            return redirect_after_post(request, reverse("console:runs_detail", args=[run.id]))
    return _render_detail(request, task, form)


@require_POST
@login_required
@organization_required
def tasks_reset(request: ConsoleRequest, task_id: str) -> HttpResponse:
    task = _task(request, task_id)
    # Without JavaScript there is no hx-confirm dialog: the plain form asks on a page first.
    if request.POST.get("confirm") != "yes":
        return render(request, "console/tasks_reset.html", {"task": task})
    task = services.task_reset(organization=request.organization, task_id=task.id)
    messages.success(request, f"Reset {task.name}: it is learning again from scratch.")
    return redirect_after_post(request, reverse("console:tasks_detail", args=[task.id]))
