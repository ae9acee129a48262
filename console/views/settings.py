"""The organization's settings: its name, its members, and the limits and model defaults the
deployment applies to it (shown, never their secrets)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings as django_settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from console.forms import ConsoleForm
from console.membership import ConsoleRequest, organization_required
from console.shortcuts import redirect_after_post, render_page
from deck import selectors as deck_selectors
from deck import services as deck_services
from deck.errors import DeckError
from deck.models import Membership
from tasks import selectors
from tasks.models import Agent

PAGE = "console/settings.html"


class OrganizationForm(ConsoleForm):
    error_fields = {"name": "name"}

    name = forms.CharField(label="Organization name", max_length=200)


def _llm_defaults() -> list[tuple[str, str]]:
    """The deployment's default model endpoint for agents with the llm planner: where and
    which model, and only whether a key is set."""
    base_url = getattr(django_settings, "DECK_LLM_BASE_URL", "") or ""
    model = getattr(django_settings, "DECK_LLM_MODEL", "") or ""
    has_key = bool(getattr(django_settings, "DECK_LLM_API_KEY", ""))
    return [
        ("Endpoint", base_url or "Not set"),
        ("Model", model or "Not set"),
        ("API key", "Set (kept secret)" if has_key else "Not set"),
    ]


def _render(request: ConsoleRequest, form: OrganizationForm) -> HttpResponse:
    organization = request.organization
    role = deck_selectors.membership_role(organization=organization, user_id=request.user.pk)
    llm_agents = [
        {
            "agent": agent,
            "base_url": agent.llm_base_url or "Deployment default",
            "model": agent.llm_model or "Deployment default",
            "key": "Set (kept secret)" if agent.llm_api_key_token else "Deployment default",
        }
        for agent in selectors.agent_list(organization=organization)
        .filter(planner=Agent.Planner.LLM)
        .order_by("name")
    ]
    context: dict[str, Any] = {
        "form": form,
        "is_owner": role == Membership.Role.OWNER,
        "members": deck_selectors.membership_list(organization=organization),
        "limits": [
            (
                "API rate limit",
                f"{django_settings.DECK_RATE_LIMIT_REQUESTS} requests per "
                f"{django_settings.DECK_RATE_LIMIT_WINDOW_SECONDS} s",
            ),
            ("Active sessions", f"{django_settings.DECK_SESSION_LIMIT} at a time"),
            (
                "Task timeout",
                f"at most {django_settings.DECK_TASK_TIMEOUT_MAX_SECONDS} s per run",
            ),
            (
                "Interaction timeout",
                f"{django_settings.DECK_INTERACTION_TIMEOUT_SECONDS} s unless the source sets one",
            ),
            ("Event retention", f"{django_settings.DECK_EVENT_RETENTION_DAYS} days"),
        ],
        "llm_defaults": _llm_defaults(),
        "llm_agents": llm_agents,
    }
    return render_page(request, PAGE, context, partial="organization")


@require_GET
@login_required
@organization_required
def settings(request: ConsoleRequest) -> HttpResponse:
    form = OrganizationForm(initial={"name": request.organization.name})
    return _render(request, form)


@require_POST
@login_required
@organization_required
def settings_rename(request: ConsoleRequest) -> HttpResponse:
    role = deck_selectors.membership_role(
        organization=request.organization, user_id=request.user.pk
    )
    form = OrganizationForm(request.POST)
    if role != Membership.Role.OWNER:
        form.add_error(None, "Only an owner of the organization can rename it.")
        return _render(request, form)
    if form.is_valid():
        try:
            organization = deck_services.organization_rename(
                organization=request.organization, name=form.cleaned_data["name"]
            )
        except DeckError as error:
            form.add_deck_error(error)
        else:
            messages.success(request, f"Renamed the organization to {organization.name}.")
            return redirect_after_post(request, reverse("console:settings"))
    return _render(request, form)
