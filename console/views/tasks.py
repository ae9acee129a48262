"""Tasks: the list; creating one by prompting (a drafted definition to review), from a
sandbox template or by hand, with the JSON editors checked live; editing and deleting; and
each task's page with its progress, playbooks, Run form and Reset."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import retarget

from console.forms import TaskDescribeForm, TaskForm
from console.membership import ConsoleRequest, organization_required
from console.schema_forms import RunForm
from console.shortcuts import act, get_or_404, paginate, redirect_after_post, render_page
from tasks import definitions, drafting, runs, selectors, services
from tasks.drafting import TaskDraft
from tasks.errors import DeckError
from tasks.models import STAGE_SUCCESSES_REQUIRED, Agent, Task
from tasks.sandbox.accounts import PORTALS
from tasks.sandbox.catalog import TaskTemplate, catalog_templates

RECENT_RUNS = 10
RECENT_PLAYBOOKS = 10


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


def _task_form(
    request: ConsoleRequest, data: Any = None, *, task: Task | None = None, **kwargs: Any
) -> TaskForm:
    return TaskForm(
        data,
        agents=_agents(request),
        task=task,
        validate_url=reverse("console:tasks_validate"),
        **kwargs,
    )


def _render_form(
    request: ConsoleRequest,
    form: TaskForm,
    *,
    describe: TaskDescribeForm | None = None,
    draft: TaskDraft | None = None,
    template: TaskTemplate | None = None,
    partial: str = "form",
) -> HttpResponse:
    context = {
        "templates": _templates() if form.task is None else [],
        "template": template,
        "form": form,
        "task": form.task,
        "has_agents": len(form.fields["agent"].choices) > 1,  # type: ignore[attr-defined]
        "describe": describe or TaskDescribeForm(),
        "draft": draft,
        "relearns": form.task is not None and form.task.status != Task.Status.LEARNING,
    }
    return render_page(request, "console/tasks_form.html", context, partial=partial)


def _templates() -> list[dict[str, Any]]:
    portals = {portal.slug: portal.name for portal in PORTALS}
    return [
        {"template": template, "portals": [portals.get(s, s) for s in template.sources]}
        for template in catalog_templates()
    ]


@require_GET
@login_required
@organization_required
def tasks_new(request: ConsoleRequest) -> HttpResponse:
    initial: dict[str, Any] = {"agent": request.GET.get("agent")}
    key = request.GET.get("template", "")
    template = next((t for t in catalog_templates() if t.key == key), None)
    if template is not None:
        storage = definitions.storage_normalize(template.storage)
        initial |= {
            **template.task_fields(),
            "storage_enabled": storage["enabled"],
            "extraction": storage["extraction"],
            "extraction_schema": storage["extraction_schema"],
            "deduplication": storage["deduplication"],
            "deduplication_schema": storage["deduplication_schema"],
            "type": "write" if template.write else "read",
        }
    agents = _agents(request)
    if not initial["agent"] and len(agents) == 1:
        # The only agent is the obvious choice.
        initial["agent"] = agents[0].id
    form = _task_form(request, initial=initial)
    return _render_form(request, form, template=template)


@require_POST
@login_required
@organization_required
def tasks_draft(request: ConsoleRequest) -> HttpResponse:
    """Fill the create form from a description of the job; nothing is saved."""
    describe = TaskDescribeForm(request.POST)
    if not describe.is_valid():
        response = _render_form(request, _task_form(request), describe=describe, partial="describe")
        return retarget(response, "#describe-form") if request.htmx else response
    agents = _agents(request)
    agent_id = request.POST.get("agent") or None
    if agent_id not in {agent.id for agent in agents}:
        # The only agent is the obvious one; with several, the person picks in the form.
        agent_id = agents[0].id if len(agents) == 1 else None
    draft = drafting.task_draft(
        organization=request.organization,
        description=describe.cleaned_data["description"],
        agent_id=agent_id,
    )
    form = _task_form(request, initial=TaskForm.initial_from_draft(draft, agent_id))
    # htmx swaps the create form below the description; without it the page comes back whole.
    return _render_form(request, form, describe=describe, draft=draft)


@require_POST
@login_required
@organization_required
def tasks_validate(request: ConsoleRequest) -> HttpResponse:
    """The verdict on one JSON editor, from the same definition checks as saving."""
    field = request.POST.get("check", "")
    if field not in TaskForm.JSON_FIELDS:
        return HttpResponse("Unknown field.", status=400)
    form = _task_form(request, request.POST)
    text = request.POST.get(field, "").strip()
    context = {
        "field_id": f"id_{field}",
        "problems": form.check_definition(field),
        "empty": not text,
    }
    return render(request, "console/json_check.html", context)


@require_POST
@login_required
@organization_required
def tasks_create(request: ConsoleRequest) -> HttpResponse:
    form = _task_form(request, request.POST)
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
    return _render_form(request, form)


@require_GET
@login_required
@organization_required
def tasks_edit(request: ConsoleRequest, task_id: str) -> HttpResponse:
    task = _task(request, task_id)
    return _render_form(request, _task_form(request, task=task))


@require_POST
@login_required
@organization_required
def tasks_update(request: ConsoleRequest, task_id: str) -> HttpResponse:
    task = _task(request, task_id)
    form = _task_form(request, request.POST, task=task)
    if form.is_valid():
        before = task.status
        try:
            task = services.task_update(
                organization=request.organization, task_id=task.id, changes=form.changes()
            )
        except DeckError as error:
            form.add_deck_error(error)
        else:
            if task.status != before:
                messages.success(
                    request, f"Saved {task.name}. The definition changed, so it is learning again."
                )
            else:
                messages.success(request, f"Saved {task.name}.")
            return redirect_after_post(request, reverse("console:tasks_detail", args=[task.id]))
    return _render_form(request, form)


@require_POST
@login_required
@organization_required
def tasks_delete(request: ConsoleRequest, task_id: str) -> HttpResponse:
    task = _task(request, task_id)
    # Without JavaScript there is no hx-confirm dialog: the plain form asks on a page first.
    if request.POST.get("confirm") != "yes":
        run_count = selectors.run_list(
            organization=request.organization, filters={"task_id": task.id}
        ).count()
        return render(request, "console/tasks_delete.html", {"task": task, "run_count": run_count})
    name = task.name
    act(
        request,
        lambda: services.task_delete(organization=request.organization, task_id=task.id),
        success=f"Deleted the task {name} and its runs.",
    )
    return redirect_after_post(request, reverse("console:tasks"))


def _task(request: ConsoleRequest, task_id: str) -> Task:
    return get_or_404(selectors.task_get, organization=request.organization, task_id=task_id)


def _run_form(request: ConsoleRequest, task: Task, data: Any = None, files: Any = None) -> RunForm:
    organization = request.organization
    return RunForm(
        data,
        files,
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
        "playbooks": list(
            selectors.playbook_list(organization=request.organization, task_id=task.id)
            .select_related("source")
            .order_by("-created_at", "-version")[:RECENT_PLAYBOOKS]
        ),
        "run_count": recent.count(),
        "run_form": run_form,
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
    form = _run_form(request, task, request.POST, request.FILES)
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
