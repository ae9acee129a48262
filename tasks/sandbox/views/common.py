"""What every portal view shares: rendering with the portal's layout, and the noindex mark."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from tasks.sandbox.accounts import sandbox_logins, sandbox_portal, sandbox_portals
from tasks.sandbox.selectors import sandbox_layout

NOINDEX = "noindex, nofollow"


def noindex(response: HttpResponse) -> HttpResponse:
    response["X-Robots-Tag"] = NOINDEX
    response["Cache-Control"] = "no-store"
    return response


def render_portal(
    request: HttpRequest,
    slug: str,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
) -> HttpResponse:
    layout = sandbox_layout(slug)
    match = request.resolver_match
    page = {
        # The URL name without the portal prefix: which navigation entry is current.
        "section": match.url_name.removeprefix(f"{slug}_") if match and match.url_name else "",
        "portal": sandbox_portal(slug),
        "layout": layout,
        "redesign": layout == "redesign",
        **(context or {}),
    }
    return noindex(render(request, f"sandbox/{slug}/{template}", page, status=status))


def file_response(content: bytes | str, *, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return noindex(response)


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    portals = [
        {**asdict(portal), "logins": sandbox_logins(portal.slug)} for portal in sandbox_portals()
    ]
    return noindex(render(request, "sandbox/index.html", {"portals": portals}))


@require_GET
def robots(request: HttpRequest) -> HttpResponse:
    return noindex(HttpResponse("User-agent: *\nDisallow: /\n", content_type="text/plain"))
