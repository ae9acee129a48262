"""Sources: the websites agents log into."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from console.forms import SourceForm
from console.membership import ConsoleRequest, organization_required
from console.shortcuts import get_or_404, redirect_after_post, render_page
from tasks import selectors, services
from tasks.errors import DeckError
from tasks.models import Source

FORM = "console/sources_form.html"


@require_GET
@login_required
@organization_required
def sources(request: ConsoleRequest) -> HttpResponse:
    listed = (
        selectors.source_list(organization=request.organization)
        .annotate(credential_count=Count("credentials"))
        .order_by("name", "created_at")
    )
    return render_page(request, "console/sources.html", {"sources": listed})


def _render_form(request: ConsoleRequest, form: SourceForm, source: Source | None) -> HttpResponse:
    return render_page(request, FORM, {"form": form, "source": source}, partial="form")


@require_GET
@login_required
@organization_required
def sources_new(request: ConsoleRequest) -> HttpResponse:
    return _render_form(request, SourceForm(), None)


@require_POST
@login_required
@organization_required
def sources_create(request: ConsoleRequest) -> HttpResponse:
    form = SourceForm(request.POST)
    if form.is_valid():
        try:
            source = services.source_create(
                organization=request.organization,
                name=form.cleaned_data["name"],
                url=form.cleaned_data["url"],
                interaction_timeout_seconds=form.cleaned_data["timeout"],
            )
        except DeckError as error:
            form.add_deck_error(error)
        else:
            messages.success(request, f"Created the source {source.name}.")
            return redirect_after_post(request, reverse("console:sources"))
    return _render_form(request, form, None)


@require_GET
@login_required
@organization_required
def sources_edit(request: ConsoleRequest, source_id: str) -> HttpResponse:
    source = get_or_404(
        selectors.source_get, organization=request.organization, source_id=source_id
    )
    return _render_form(request, SourceForm(source=source), source)


@require_POST
@login_required
@organization_required
def sources_update(request: ConsoleRequest, source_id: str) -> HttpResponse:
    source = get_or_404(
        selectors.source_get, organization=request.organization, source_id=source_id
    )
    form = SourceForm(request.POST, source=source)
    if form.is_valid():
        try:
            source = services.source_update(
                organization=request.organization,
                source_id=source.id,
                name=form.cleaned_data["name"],
                url=form.cleaned_data["url"],
                interaction_timeout_seconds=form.cleaned_data["timeout"],
            )
        except DeckError as error:
            form.add_deck_error(error)
        else:
            messages.success(request, f"Saved the source {source.name}.")
            return redirect_after_post(request, reverse("console:sources"))
    return _render_form(request, form, source)
