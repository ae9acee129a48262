"""Task runs: the filtered list, and each run's live page with its tabs and actions."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRefresh
from jsonschema import Draft202012Validator

from console.membership import ConsoleRequest, organization_required
from console.schema_forms import InteractionForm
from console.shortcuts import act, get_or_404, paginate, redirect_after_post, render_page
from console.views.storage import storage_rows, text_preview
from storage import selectors as storage_selectors
from storage.models import StorageItem
from tasks import runs as lifecycle
from tasks import selectors
from tasks.errors import DeckError, InvalidInputs
from tasks.models import TaskRun
from tasks.schemas import run_representation, screenshot_representation

DETAIL = "console/runs_detail.html"
TABS = (
    ("input", "Input"),
    ("output", "Output"),
    ("storage", "Storage"),
    ("screenshots", "Screenshots"),
    ("steps", "Steps"),
    ("events", "Events"),
)
# The header polls itself while the run can still change.
POLL_TARGET = "run-header"
TAB_TARGET = "run-tab"


@require_GET
@login_required
@organization_required
def runs(request: ConsoleRequest) -> HttpResponse:
    organization = request.organization
    tasks = list(selectors.task_list(organization=organization).order_by("name"))
    credentials = list(
        selectors.credential_list(organization=organization)
        .select_related("source")
        .order_by("username")
    )
    status = request.GET.get("status", "")
    task_id = request.GET.get("task", "")
    credential_id = request.GET.get("credential", "")
    filters: dict[str, object] = {
        "status": [status] if status in TaskRun.Status.values else None,
        "task_id": task_id if task_id in {t.id for t in tasks} else None,
        "credential_id": credential_id if credential_id in {c.id for c in credentials} else None,
    }
    listed = (
        selectors.run_list(organization=organization, filters=filters)
        .select_related("task", "credential", "source")
        .order_by("-created_at")
    )
    context = {
        "page": paginate(request, listed),
        "tasks": tasks,
        "credentials": credentials,
        "statuses": TaskRun.Status.choices,
        "filters": {"status": status, "task": task_id, "credential": credential_id},
    }
    return render_page(request, "console/runs.html", context, partial="table")


def _run(request: ConsoleRequest, run_id: str) -> TaskRun:
    run: TaskRun = get_or_404(selectors.run_get, organization=request.organization, run_id=run_id)
    return run


def _output_problems(run: TaskRun) -> list[str]:
    validator = Draft202012Validator(run.task.output_schema)
    return [
        f"{'.'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
        for error in validator.iter_errors(run.output)
    ]


def _screenshots(run: TaskRun) -> list[dict[str, Any]]:
    steps = run.steps.exclude(screenshot="").order_by("sequence")
    shots = [screenshot_representation(step, run.organization_id) for step in steps]
    # The lightbox's previous/next links.
    for index, shot in enumerate(shots):
        shot["previous"] = shots[index - 1]["sequence"] if index else None
        shot["next"] = shots[index + 1]["sequence"] if index + 1 < len(shots) else None
    return shots


def _tab_context(request: ConsoleRequest, run: TaskRun, tab: str) -> dict[str, Any]:
    organization = request.organization
    if tab == "input":
        shown = run_representation(run, frozenset({"input"}))
        inputs = storage_selectors.run_storage_list(organization=organization, run_id=run.id)
        attachments = inputs.exclude(purpose=StorageItem.Purpose.OUTPUT).order_by("created_at")
        return {
            "run_input": shown["input"],
            "tokenized": shown["tokenized"],
            "attachments": storage_rows(attachments),
        }
    if tab == "output":
        if run.output is None:
            return {}
        return {"output_problems": _output_problems(run)}
    if tab == "storage":
        items = storage_selectors.run_storage_list(organization=organization, run_id=run.id)
        rows = storage_rows(items.order_by("-created_at", "-id"))
        for row in rows:
            row["text"] = text_preview(row["item"]) if row["preview"] == "text" else None
        return {"storage_items": rows}
    if tab == "screenshots":
        return {"screenshots": _screenshots(run)}
    if tab == "steps":
        steps = list(run.steps.order_by("sequence"))
        shots = {shot["sequence"]: shot for shot in _screenshots(run)}
        return {"steps": [(step, shots.get(step.sequence)) for step in steps]}
    return {"events": list(selectors.run_event_list(organization=organization, run_id=run.id))}


def _render_detail(
    request: ConsoleRequest,
    run: TaskRun,
    *,
    interaction_form: InteractionForm | None = None,
    partial: str | None = None,
) -> HttpResponse:
    tab = request.GET.get("tab", "input")
    if tab not in dict(TABS):
        tab = "input"
    if interaction_form is None and run.status == TaskRun.Status.INTERACTION_REQUIRED:
        interaction_form = InteractionForm(interaction=run.interaction or {})
    context = {
        "run": run,
        "tabs": TABS,
        "tab": tab,
        "step_count": run.steps.count(),
        "event_count": selectors.run_event_list(
            organization=request.organization, run_id=run.id
        ).count(),
        "interaction_form": interaction_form,
        "poll_target": POLL_TARGET,
        **_tab_context(request, run, tab),
    }
    return render_page(request, DETAIL, context, partial=partial)


@require_GET
@login_required
@organization_required
def runs_detail(request: ConsoleRequest, run_id: str) -> HttpResponse:
    run = _run(request, run_id)
    target = request.htmx.target if request.htmx else None
    if target == POLL_TARGET:
        seen = request.GET.get("seen")
        if seen and seen != run.status:
            # The actions, tabs and output around the header are stale too: reload the page.
            return HttpResponseClientRefresh()
        return render_page(request, DETAIL, {"run": run}, partial="header")
    return _render_detail(request, run, partial="tab" if target == TAB_TARGET else None)


def _back_to(request: ConsoleRequest, run: TaskRun) -> HttpResponse:
    return redirect_after_post(request, reverse("console:runs_detail", args=[run.id]))


@require_POST
@login_required
@organization_required
def runs_cancel(request: ConsoleRequest, run_id: str) -> HttpResponse:
    run = _run(request, run_id)
    try:
        run = lifecycle.run_cancel(organization=request.organization, run_id=run.id)
    except DeckError as error:
        messages.error(request, error.message)
    else:
        if run.status == TaskRun.Status.CANCELING:
            messages.success(request, "Cancel requested: the agent stops at its next step.")
        else:
            messages.success(request, "Run canceled.")
    return _back_to(request, run)


@require_POST
@login_required
@organization_required
def runs_answer(request: ConsoleRequest, run_id: str) -> HttpResponse:
    run = _run(request, run_id)
    if run.status != TaskRun.Status.INTERACTION_REQUIRED or not run.interaction:
        status = run.get_status_display().lower()
        messages.error(request, f"The run is {status}; it is not waiting for an answer.")
        return _back_to(request, run)
    form = InteractionForm(request.POST, interaction=run.interaction)
    if form.is_valid():
        try:
            lifecycle.run_answer(
                organization=request.organization, run_id=run.id, answer=form.answer()
            )
        except InvalidInputs as error:
            form.add_deck_error(error)
        except DeckError as error:
            messages.error(request, error.message)
            return _back_to(request, run)
        else:
            messages.success(request, "Answer sent; the agent resumes.")
            return _back_to(request, run)
    return _render_detail(request, run, interaction_form=form, partial="interaction")


@require_POST
@login_required
@organization_required
def runs_approve(request: ConsoleRequest, run_id: str) -> HttpResponse:
    run = _run(request, run_id)
    act(
        request,
        lambda: lifecycle.run_approve(organization=request.organization, run_id=run.id),
        success="Approved: the run is completed.",
    )
    return _back_to(request, run)


@require_POST
@login_required
@organization_required
def runs_reject(request: ConsoleRequest, run_id: str) -> HttpResponse:
    run = _run(request, run_id)
    reason = request.POST.get("reason", "").strip()[:2000]
    act(
        request,
        lambda: lifecycle.run_reject(
            organization=request.organization, run_id=run.id, reason=reason
        ),
        success="Rejected: the run failed review.",
    )
    return _back_to(request, run)
