"""Harbor Hotels: member sign-in, stays, cancellation with a confirm step."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tasks.sandbox.accounts import sandbox_authenticate
from tasks.sandbox.portal_session import (
    STAGE_READY,
    PortalState,
    Visitor,
    next_path,
    portal_login_required,
    state_clear,
    state_write,
)
from tasks.sandbox.records import sandbox_today, seeded
from tasks.sandbox.selectors import Stay, member_stays
from tasks.sandbox.services import sandbox_reservation_cancel
from tasks.sandbox.views.common import render_portal

SLUG = "harbor"
signed_in = portal_login_required(SLUG, login_url="sandbox:harbor_signin")


def _home() -> str:
    return reverse("sandbox:harbor_trips")


@require_http_methods(["GET", "POST"])
def signin(request: HttpRequest) -> HttpResponse:
    error = ""
    identifier = ""
    if request.method == "POST":
        identifier = request.POST.get("member", "").strip()
        found = sandbox_authenticate(SLUG, identifier, request.POST.get("password", ""))
        if found is not None:
            response = HttpResponseRedirect(next_path(request, SLUG, _home()))
            return state_write(
                response, SLUG, PortalState(username=found.username, stage=STAGE_READY)
            )
        error = "We couldn't sign you in with that member number or email and password."
    return render_portal(
        request,
        SLUG,
        "signin.html",
        {"error": error, "identifier": identifier, "next": request.GET.get("next", "")},
        status=401 if error else 200,
    )


@require_POST
def signout(request: HttpRequest) -> HttpResponse:
    return state_clear(HttpResponseRedirect(reverse("sandbox:harbor_signin")), SLUG)


def _member(visitor: Visitor) -> dict[str, object]:
    rng = seeded(SLUG, visitor.login.username, "member")
    return {
        "visitor": visitor,
        "tier": rng.choice(("Silver", "Gold", "Platinum")),
        "points": f"{rng.randrange(4_000, 180_000, 10):,}",
    }


@require_GET
@signed_in
def trips(request: HttpRequest, visitor: Visitor) -> HttpResponse:
    today = sandbox_today()
    stays = member_stays(visitor.login)
    upcoming = [s for s in stays if s.cancellation is None and s.reservation.check_in >= today]
    past = [s for s in stays if s.cancellation is None and s.reservation.check_in < today]
    past.reverse()
    cancelled = [s for s in stays if s.cancellation is not None]
    return render_portal(
        request,
        SLUG,
        "trips.html",
        {**_member(visitor), "upcoming": upcoming, "past": past, "cancelled": cancelled},
    )


def _stay(visitor: Visitor, number: str) -> Stay:
    for stay in member_stays(visitor.login):
        if stay.reservation.confirmation_number == number:
            return stay
    raise Http404("No such reservation")


@require_GET
@signed_in
def reservation(request: HttpRequest, number: str, visitor: Visitor) -> HttpResponse:
    stay = _stay(visitor, number)
    return render_portal(
        request,
        SLUG,
        "reservation.html",
        {
            **_member(visitor),
            "stay": stay,
            "r": stay.reservation,
            "cancellable": stay.cancellation is None
            and stay.reservation.check_in >= sandbox_today(),
        },
    )


@require_http_methods(["GET", "POST"])
@signed_in
def cancel(request: HttpRequest, number: str, visitor: Visitor) -> HttpResponse:
    stay = _stay(visitor, number)
    if stay.cancellation is not None:
        return HttpResponseRedirect(reverse("sandbox:harbor_cancelled", args=[number]))
    if stay.reservation.check_in < sandbox_today():
        return render_portal(
            request,
            SLUG,
            "reservation.html",
            {
                **_member(visitor),
                "stay": stay,
                "r": stay.reservation,
                "cancellable": False,
                "error": "Past stays can't be cancelled.",
            },
            status=409,
        )
    if request.method == "POST":
        sandbox_reservation_cancel(login=visitor.login, reservation_number=number)
        return HttpResponseRedirect(reverse("sandbox:harbor_cancelled", args=[number]))
    return render_portal(
        request, SLUG, "cancel.html", {**_member(visitor), "stay": stay, "r": stay.reservation}
    )


@require_GET
@signed_in
def cancelled(request: HttpRequest, number: str, visitor: Visitor) -> HttpResponse:
    stay = _stay(visitor, number)
    if stay.cancellation is None:
        return HttpResponseRedirect(reverse("sandbox:harbor_reservation", args=[number]))
    return render_portal(
        request, SLUG, "cancelled.html", {**_member(visitor), "stay": stay, "r": stay.reservation}
    )


@require_GET
@signed_in
def profile(request: HttpRequest, visitor: Visitor) -> HttpResponse:
    return render_portal(request, SLUG, "profile.html", _member(visitor))
