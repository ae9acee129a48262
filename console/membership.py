"""Which organization a console request works in, and who may see console pages."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Concatenate, ParamSpec, TypeVar

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django_htmx.middleware import HtmxDetails

from deck.models import Membership, Organization

SESSION_KEY = "organization_id"

P = ParamSpec("P")
R = TypeVar("R", bound=HttpResponseBase)


class ConsoleRequest(HttpRequest):
    """What console views receive once ``organization_required`` has let them run."""

    htmx: HtmxDetails
    organization: Organization


def member_organizations(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Organization]:
    if not user.is_authenticated:
        return Organization.objects.none()
    return Organization.objects.filter(memberships__user_id=user.pk).order_by("name")


def current_organization(request: HttpRequest) -> Organization | None:
    """The organization the member is working in: the one chosen in the switcher, else the
    first they belong to. Never an organization they are not a member of."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    memberships = Membership.objects.filter(user=user).select_related("organization")
    chosen = request.session.get(SESSION_KEY)
    if chosen:
        membership = memberships.filter(organization_id=chosen).first()
        if membership is not None:
            return membership.organization
    membership = memberships.order_by("created_at").first()
    return membership.organization if membership else None


def organization_switch(request: HttpRequest, organization_id: str) -> Organization | None:
    """Make ``organization_id`` the current one, if the user is a member; else change nothing."""
    organization = member_organizations(request.user).filter(id=organization_id).first()
    if organization is not None:
        request.session[SESSION_KEY] = organization.id
    return organization


def organization_required(
    view: Callable[Concatenate[ConsoleRequest, P], R],
) -> Callable[Concatenate[HttpRequest, P], R | HttpResponse]:
    """Render a clear page instead of the view for a member of no organization."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> R | HttpResponse:
        if getattr(request, "organization", None) is None:
            return render(request, "console/no_organization.html", status=403)
        return view(request, *args, **kwargs)  # type: ignore[arg-type]

    return wrapper
