from __future__ import annotations

from django.http import HttpRequest

from deck.models import Membership, Organization

SESSION_KEY = "organization_id"


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
