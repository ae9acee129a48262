"""Agents: the list with a create form, and each agent's tasks."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from console.forms import AgentForm
from console.membership import ConsoleRequest, organization_required
from console.shortcuts import get_or_404, redirect_after_post, render_page
from tasks import selectors, services
from tasks.errors import DeckError
from tasks.models import Agent


def _render_agents(request: ConsoleRequest, form: AgentForm) -> HttpResponse:
    agents = (
        selectors.agent_list(organization=request.organization)
        .annotate(task_count=Count("tasks"))
        .order_by("name", "created_at")
    )
    return render_page(
        request, "console/agents.html", {"agents": agents, "form": form}, partial="panel"
    )


@require_GET
@login_required
@organization_required
def agents(request: ConsoleRequest) -> HttpResponse:
    return _render_agents(request, AgentForm())


@require_POST
@login_required
@organization_required
def agents_create(request: ConsoleRequest) -> HttpResponse:
    form = AgentForm(request.POST)
    if form.is_valid():
        try:
            agent = services.agent_create(organization=request.organization, **form.changes())
        except DeckError as error:
            form.add_deck_error(error)
        else:
            messages.success(request, f"Created the agent {agent.name}.")
            return redirect_after_post(request, reverse("console:agents_detail", args=[agent.id]))
    return _render_agents(request, form)


@require_GET
@login_required
@organization_required
def agents_detail(request: ConsoleRequest, agent_id: str) -> HttpResponse:
    agent = get_or_404(selectors.agent_get, organization=request.organization, agent_id=agent_id)
    tasks = selectors.task_list(organization=request.organization, agent_id=agent.id).order_by(
        "-created_at"
    )
    return render_page(request, "console/agents_detail.html", {"agent": agent, "tasks": tasks})


def _render_form(request: ConsoleRequest, form: AgentForm, agent: Agent) -> HttpResponse:
    return render_page(
        request, "console/agents_form.html", {"form": form, "agent": agent}, partial="form"
    )


@require_GET
@login_required
@organization_required
def agents_edit(request: ConsoleRequest, agent_id: str) -> HttpResponse:
    agent = get_or_404(selectors.agent_get, organization=request.organization, agent_id=agent_id)
    return _render_form(request, AgentForm(agent=agent), agent)


@require_POST
@login_required
@organization_required
def agents_update(request: ConsoleRequest, agent_id: str) -> HttpResponse:
    agent = get_or_404(selectors.agent_get, organization=request.organization, agent_id=agent_id)
    form = AgentForm(request.POST, agent=agent)
    if form.is_valid():
        try:
            agent = services.agent_update(
                organization=request.organization, agent_id=agent.id, changes=form.changes()
            )
        except DeckError as error:
            form.add_deck_error(error)
        else:
            messages.success(request, f"Saved the agent {agent.name}.")
            return redirect_after_post(request, reverse("console:agents_detail", args=[agent.id]))
    return _render_form(request, form, agent)
