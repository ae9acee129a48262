"""Sessions: logged-in browser state shared by runs; ending one cancels its runs."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from console.membership import ConsoleRequest, organization_required
from console.shortcuts import get_or_404, paginate, redirect_after_post, render_page
from tasks import runs as lifecycle
from tasks import selectors
from tasks.models import Session


@require_GET
@login_required
@organization_required
def sessions(request: ConsoleRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    listed = (
        selectors.session_list(
            organization=request.organization,
            status=status if status in Session.Status.values else None,
        )
        .select_related("source", "credential")
        .annotate(run_count=Count("runs"))
        .order_by("-created_at")
    )
    context = {
        "page": paginate(request, listed),
        "statuses": Session.Status.choices,
        "filters": {"status": status},
    }
    return render_page(request, "console/sessions.html", context, partial="table")


def _session(request: ConsoleRequest, session_id: str) -> Session:
    session: Session = get_or_404(
        selectors.session_get, organization=request.organization, session_id=session_id
    )
    return session


@require_GET
@login_required
@organization_required
def sessions_detail(request: ConsoleRequest, session_id: str) -> HttpResponse:
    session = _session(request, session_id)
    session_runs = (
        selectors.run_list(organization=request.organization, filters={"session_id": session.id})
        .select_related("task")
        .order_by("-created_at")
    )
    context = {
        "session": session,
        "runs": session_runs,
        "ended": session.status in Session.ENDED,
    }
    return render_page(request, "console/sessions_detail.html", context)


@require_POST
@login_required
@organization_required
def sessions_end(request: ConsoleRequest, session_id: str) -> HttpResponse:
    session = _session(request, session_id)
    # Without JavaScript there is no hx-confirm dialog: the plain form asks on a page first.
    if request.POST.get("confirm") != "yes":
        return render(request, "console/sessions_end.html", {"session": session})
    session = lifecycle.session_end(organization=request.organization, session_id=session.id)
    messages.success(request, "Session ended; its unfinished runs were canceled.")
    return redirect_after_post(request, reverse("console:sessions_detail", args=[session.id]))
