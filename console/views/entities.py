"""Entities: what each login showed (accounts, meters, policies …), recorded by the agent."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.views.decorators.http import require_GET

from console.membership import ConsoleRequest, organization_required
from console.shortcuts import paginate, render_page
from tasks import selectors


@require_GET
@login_required
@organization_required
def entities(request: ConsoleRequest) -> HttpResponse:
    credential_id = request.GET.get("credential", "")
    kind = request.GET.get("type", "")
    everything = selectors.entity_list(organization=request.organization)
    listed = (
        selectors.entity_list(
            organization=request.organization,
            credential_id=credential_id or None,
            type=kind or None,
        )
        .select_related("credential", "source")
        .order_by("-created_at", "-pk")
    )
    credentials = selectors.credential_list(organization=request.organization).filter(
        pk__in=everything.values("credential_id")
    )
    context = {
        "page": paginate(request, listed),
        "credentials": [
            (credential.id, f"{credential.username or credential.id} @ {credential.source_id}")
            for credential in credentials.order_by("username", "pk")
        ],
        "types": [
            (name, name)
            for name in everything.order_by("type").values_list("type", flat=True).distinct()
        ],
        "filters": {"credential": credential_id, "type": kind},
    }
    return render_page(request, "console/entities.html", context, partial="table")
