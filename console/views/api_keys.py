"""API keys: shown once at creation, revocable."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from console.forms import ApiKeyCreateForm
from console.membership import ConsoleRequest, organization_required
from console.shortcuts import render_page
from deck.selectors import api_key_list
from deck.services import CreatedApiKey, api_key_create, api_key_revoke


def _render_api_keys(
    request: ConsoleRequest, *, form: ApiKeyCreateForm, created: CreatedApiKey | None = None
) -> HttpResponse:
    context: dict[str, Any] = {
        "api_keys": api_key_list(organization=request.organization),
        "form": form,
        "created": created,
    }
    return render_page(request, "console/api_keys.html", context, partial="panel")


@require_GET
@login_required
@organization_required
def api_keys(request: ConsoleRequest) -> HttpResponse:
    return _render_api_keys(request, form=ApiKeyCreateForm())


@require_POST
@login_required
@organization_required
def api_keys_create(request: ConsoleRequest) -> HttpResponse:
    form = ApiKeyCreateForm(request.POST)
    if not form.is_valid():
        return _render_api_keys(request, form=form)
    created = api_key_create(
        organization=request.organization,
        name=form.cleaned_data["name"],
        created_by=request.user,  # type: ignore[arg-type]
    )
    # Rendered rather than redirected: this response is the only place the full key appears.
    return _render_api_keys(request, form=ApiKeyCreateForm(), created=created)


@require_POST
@login_required
@organization_required
def api_keys_revoke(request: ConsoleRequest, key_id: str) -> HttpResponse:
    api_key = get_object_or_404(api_key_list(organization=request.organization), pk=key_id)
    # Without JavaScript there is no hx-confirm dialog, so the plain form lands on a
    # confirmation page first; both routes post confirm=yes to revoke.
    if request.POST.get("confirm") != "yes":
        return render(request, "console/api_keys_revoke.html", {"api_key": api_key})
    api_key = api_key_revoke(organization=request.organization, key_id=api_key.id)
    if request.htmx:
        return render(request, "console/api_keys.html#key_row", {"api_key": api_key})
    messages.success(request, f"Revoked the key {api_key.prefix}….")
    return redirect("console:api_keys")
