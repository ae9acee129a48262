"""The dashboard and the organization switcher."""

from __future__ import annotations

from datetime import datetime, time

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from console import membership
from console.membership import ConsoleRequest, organization_required
from deck.selectors import api_key_list
from tasks import selectors
from tasks.models import TaskRun
from tasks.runs import ACTIVE_SESSION_STATUSES

RECENT_FAILURES = 8


@require_GET
@login_required
@organization_required
def home(request: ConsoleRequest) -> HttpResponse:
    organization = request.organization
    today = timezone.make_aware(datetime.combine(timezone.localdate(), time.min))
    runs_today = selectors.run_list(organization=organization, filters={"created_after": today})
    failed = [TaskRun.Status.FAILED]
    context = {
        "task_count": selectors.task_list(organization=organization).count(),
        "runs_today": runs_today.count(),
        "failed_today": runs_today.filter(status__in=failed).count(),
        "active_sessions": selectors.session_list(organization=organization)
        .filter(status__in=ACTIVE_SESSION_STATUSES)
        .count(),
        "recent_failures": selectors.run_list(organization=organization, filters={"status": failed})
        .select_related("task")
        .order_by("-created_at")[:RECENT_FAILURES],
        "member_count": organization.memberships.count(),
        "active_key_count": api_key_list(organization=organization)
        .filter(revoked_at__isnull=True)
        .count(),
        "test_url": request.build_absolute_uri("/v2/test"),
    }
    return render(request, "console/home.html", context)


@require_POST
@login_required
def organization_switch(request: HttpRequest) -> HttpResponse:
    organization = membership.organization_switch(request, request.POST.get("organization", ""))
    if organization is None:
        raise Http404("No such organization.")
    messages.success(request, f"Switched to {organization.name}.")
    # Home, not the page the switch came from: that page may show the previous
    # organization's objects.
    return redirect("console:home")
