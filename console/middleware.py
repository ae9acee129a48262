from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


class OrganizationMiddleware:
    """Attach the signed-in member's current organization as ``request.organization``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from console.membership import current_organization

        if not hasattr(request, "organization"):
            request.organization = current_organization(request)  # type: ignore[attr-defined]
        return self.get_response(request)
