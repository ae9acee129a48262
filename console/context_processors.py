from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from console.membership import member_organizations
from console.navigation import navigation


def console(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    context: dict[str, Any] = {"organization": getattr(request, "organization", None)}
    if user is not None and user.is_authenticated:
        # Lazy: admin pages render with this processor too and never look at these.
        context["member_organizations"] = SimpleLazyObject(lambda: list(member_organizations(user)))
        context["navigation"] = SimpleLazyObject(lambda: navigation(request))
    return context
