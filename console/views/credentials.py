"""Credentials: logins for sources. Secrets are write-only here as in the API."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from console.forms import CredentialForm
from console.membership import ConsoleRequest, organization_required
from console.shortcuts import get_or_404, paginate, redirect_after_post, render_page
from tasks import selectors, services
from tasks.errors import DeckError
from tasks.models import Credential, Source

FORM = "console/credentials_form.html"


@require_GET
@login_required
@organization_required
def credentials(request: ConsoleRequest) -> HttpResponse:
    organization = request.organization
    sources = list(selectors.source_list(organization=organization).order_by("name"))
    source_id = request.GET.get("source", "")
    status = request.GET.get("status", "")
    listed = (
        selectors.credential_list(
            organization=organization,
            source_id=source_id if source_id in {s.id for s in sources} else None,
            status=status if status in Credential.Status.values else None,
        )
        .select_related("source")
        .order_by("-created_at")
    )
    context = {
        "page": paginate(request, listed),
        "sources": sources,
        "statuses": Credential.Status.choices,
        "filters": {"source": source_id, "status": status},
    }
    return render_page(request, "console/credentials.html", context, partial="table")


def _sources(request: ConsoleRequest) -> list[Source]:
    return list(selectors.source_list(organization=request.organization).order_by("name"))


def _render_form(
    request: ConsoleRequest, form: CredentialForm, credential: Credential | None
) -> HttpResponse:
    context = {"form": form, "credential": credential}
    return render_page(request, FORM, context, partial="form")


@require_GET
@login_required
@organization_required
def credentials_new(request: ConsoleRequest) -> HttpResponse:
    form = CredentialForm(sources=_sources(request), initial={"source": request.GET.get("source")})
    return _render_form(request, form, None)


@require_POST
@login_required
@organization_required
def credentials_create(request: ConsoleRequest) -> HttpResponse:
    form = CredentialForm(request.POST, sources=_sources(request))
    if form.is_valid():
        try:
            credential = services.credential_create(
                organization=request.organization,
                source_id=form.cleaned_data["source"],
                auth_method=form.cleaned_data["auth_method"],
                auth_credentials=form.auth_credentials_for_create(),
                external_id=form.cleaned_data["external_id"] or None,
            )
        except DeckError as error:
            form.add_deck_error(error)
        else:
            name = credential.username or credential.id
            messages.success(request, f"Created the credential {name}.")
            return redirect_after_post(request, reverse("console:credentials"))
    return _render_form(request, form, None)


def _credential(request: ConsoleRequest, credential_id: str) -> Credential:
    return get_or_404(
        selectors.credential_get, organization=request.organization, credential_id=credential_id
    )


@require_GET
@login_required
@organization_required
def credentials_edit(request: ConsoleRequest, credential_id: str) -> HttpResponse:
    credential = _credential(request, credential_id)
    form = CredentialForm(sources=[], credential=credential)
    return _render_form(request, form, credential)


@require_POST
@login_required
@organization_required
def credentials_update(request: ConsoleRequest, credential_id: str) -> HttpResponse:
    credential = _credential(request, credential_id)
    form = CredentialForm(request.POST, sources=[], credential=credential)
    if form.is_valid():
        try:
            credential = services.credential_update(
                organization=request.organization,
                credential_id=credential.id,
                changes=form.changes_for_update(),
            )
        except DeckError as error:
            form.add_deck_error(error)
        else:
            name = credential.username or credential.id
            messages.success(request, f"Saved the credential {name}.")
            return redirect_after_post(request, reverse("console:credentials"))
    return _render_form(request, form, credential)
