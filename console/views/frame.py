"""The dashboard and the organization switcher."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from console import charts, membership
from console.membership import ConsoleRequest, organization_required
from console.shortcuts import render_page
from deck.selectors import api_key_list
from tasks import selectors
from tasks.runs import ACTIVE_SESSION_STATUSES

RECENT_FAILURES = 8
# Chart ranges: (label, length, bucket unit).
RANGES: dict[str, tuple[str, timedelta, str]] = {
    "24h": ("Last 24 hours", timedelta(hours=24), "hour"),
    "7d": ("Last 7 days", timedelta(days=7), "day"),
    "30d": ("Last 30 days", timedelta(days=30), "day"),
}
DEFAULT_RANGE = "7d"


def _window(chosen: str) -> tuple[datetime, datetime, str]:
    """[since, until) covering whole buckets, the current one included."""
    _, length, unit = RANGES[chosen]
    now = timezone.now()
    if unit == "hour":
        until = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    else:
        until = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return until - length, until, unit


@require_GET
@login_required
@organization_required
def home(request: ConsoleRequest) -> HttpResponse:
    organization = request.organization
    chosen = request.GET.get("range", DEFAULT_RANGE)
    if chosen not in RANGES:
        chosen = DEFAULT_RANGE
    since, until, unit = _window(chosen)
    volume = selectors.run_volume(organization=organization, since=since, until=until, unit=unit)
    queue = selectors.run_queue_depth(organization=organization)
    context = {
        "ranges": [(key, label) for key, (label, _, _) in RANGES.items()],
        "range": chosen,
        "range_label": RANGES[chosen][0],
        "volume": charts.stacked_bars(volume, unit=unit),
        "rates": charts.rate_bars(
            selectors.task_success_rates(organization=organization, since=since)
        ),
        "queue": queue,
        "recent_failures": selectors.run_recent_failures(
            organization=organization, limit=RECENT_FAILURES
        ),
        "task_count": selectors.task_list(organization=organization).count(),
        "active_sessions": selectors.session_list(organization=organization)
        .filter(status__in=ACTIVE_SESSION_STATUSES)
        .count(),
        "member_count": organization.memberships.count(),
        "active_key_count": api_key_list(organization=organization)
        .filter(revoked_at__isnull=True)
        .count(),
        "test_url": request.build_absolute_uri("/v2/test"),
    }
    return render_page(request, "console/home.html", context, partial="charts")


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
