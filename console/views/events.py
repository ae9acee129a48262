"""Events and the destinations they are delivered to: signing secrets shown once, a delivery
log per destination, and the actions the API offers (rotate, test, redeliver, deactivate)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from console.forms import EventDestinationForm, RedeliverFailedForm
from console.membership import ConsoleRequest, organization_required
from console.shortcuts import act, get_or_404, paginate, redirect_after_post, render_page
from deck.events import selectors, services
from deck.events.errors import DeckError
from deck.events.models import (
    EVENT_TYPES,
    TEST_EVENT_TYPE,
    Event,
    EventDelivery,
    EventDestination,
)

LISTED_TYPES = (*EVENT_TYPES, TEST_EVENT_TYPE)
DESTINATIONS = "console/events_destinations.html"
DESTINATION = "console/events_destinations_detail.html"


# -- events -------------------------------------------------------------------------------


@require_GET
@login_required
@organization_required
def events(request: ConsoleRequest) -> HttpResponse:
    event_type = request.GET.get("type", "")
    listed = selectors.event_list(
        organization=request.organization,
        types=[event_type] if event_type in LISTED_TYPES else [],
    ).order_by("-created_at", "-id")
    context = {
        "page": paginate(request, listed),
        "types": LISTED_TYPES,
        "filters": {"type": event_type},
    }
    return render_page(request, "console/events.html", context, partial="table")


@require_GET
@login_required
@organization_required
def events_detail(request: ConsoleRequest, event_id: str) -> HttpResponse:
    event: Event = get_or_404(
        selectors.event_get, organization=request.organization, event_id=event_id
    )
    return render_page(request, "console/events_detail.html", {"event": event})


# -- destinations -------------------------------------------------------------------------


def _render_destinations(
    request: ConsoleRequest,
    *,
    form: EventDestinationForm,
    created: EventDestination | None = None,
    secret: str | None = None,
    partial: str = "panel",
) -> HttpResponse:
    listed = selectors.event_destination_list(organization=request.organization).order_by(
        "-created_at", "-id"
    )
    context: dict[str, Any] = {
        "page": paginate(request, listed),
        "form": form,
        "created": created,
        "secret": secret,
    }
    return render_page(request, DESTINATIONS, context, partial=partial)


@require_GET
@login_required
@organization_required
def events_destinations(request: ConsoleRequest) -> HttpResponse:
    # The pager swaps only the table; a form re-render swaps the whole panel.
    target = request.htmx.target if request.htmx else None
    partial = "table" if target == "destinations-table" else "panel"
    return _render_destinations(request, form=EventDestinationForm(), partial=partial)


@require_POST
@login_required
@organization_required
def events_destinations_create(request: ConsoleRequest) -> HttpResponse:
    form = EventDestinationForm(request.POST)
    if not form.is_valid():
        return _render_destinations(request, form=form)
    data = form.cleaned_data
    webhook = data["type"] == EventDestination.Type.WEBHOOK
    try:
        destination, secret = services.event_destination_create(
            organization=request.organization,
            type=data["type"],
            events=data["event_types"],
            url=data["url"] if webhook else None,
            custom_headers=data["custom_headers"] if webhook else None,
            server_url=None if webhook else data["server_url"],
            exchange=None if webhook else data["exchange"],
        )
    except DeckError as error:
        form.add_deck_error(error)
        return _render_destinations(request, form=form)
    # Rendered rather than redirected: this response is the only place the secret appears.
    return _render_destinations(
        request, form=EventDestinationForm(), created=destination, secret=secret
    )


def _destination(request: ConsoleRequest, destination_id: str) -> EventDestination:
    destination: EventDestination = get_or_404(
        selectors.event_destination_get,
        organization=request.organization,
        destination_id=destination_id,
    )
    return destination


def _render_destination(
    request: ConsoleRequest,
    destination: EventDestination,
    *,
    redeliver_form: RedeliverFailedForm | None = None,
    secret: str | None = None,
    partial: str | None = "deliveries",
) -> HttpResponse:
    status = request.GET.get("status", "")
    deliveries = selectors.event_delivery_list(
        organization=request.organization,
        destination_id=destination.id,
        status=status if status in EventDelivery.Status.values else None,
    ).order_by("-created_at", "-id")
    context = {
        "destination": destination,
        "page": paginate(request, deliveries),
        "statuses": EventDelivery.Status.choices,
        "filters": {"status": status},
        "redeliver_form": redeliver_form or RedeliverFailedForm(),
        "secret": secret,
        "active": destination.status == EventDestination.Status.ACTIVE,
    }
    return render_page(request, DESTINATION, context, partial=partial)


@require_GET
@login_required
@organization_required
def events_destinations_detail(request: ConsoleRequest, destination_id: str) -> HttpResponse:
    return _render_destination(request, _destination(request, destination_id))


def _back(request: ConsoleRequest, destination: EventDestination) -> HttpResponse:
    return redirect_after_post(
        request, reverse("console:events_destinations_detail", args=[destination.id])
    )


@require_POST
@login_required
@organization_required
def events_destinations_rotate(request: ConsoleRequest, destination_id: str) -> HttpResponse:
    destination = _destination(request, destination_id)
    try:
        destination, secret = services.event_destination_rotate_secret(
            organization=request.organization, destination_id=destination.id
        )
    except DeckError as error:
        messages.error(request, error.message)
        return _back(request, destination)
    # Rendered rather than redirected: the new secret is shown in this response only.
    return _render_destination(request, destination, secret=secret, partial="secret")


@require_POST
@login_required
@organization_required
def events_destinations_test(request: ConsoleRequest, destination_id: str) -> HttpResponse:
    destination = _destination(request, destination_id)
    act(
        request,
        lambda: services.event_destination_test(
            organization=request.organization, destination_id=destination.id
        ),
        success="Test event queued; it appears in the delivery log below.",
    )
    return _back(request, destination)


@require_POST
@login_required
@organization_required
def events_destinations_status(request: ConsoleRequest, destination_id: str) -> HttpResponse:
    destination = _destination(request, destination_id)
    status = request.POST.get("status", "")
    if status not in EventDestination.Status.values:
        messages.error(request, "Choose active or inactive.")
        return _back(request, destination)
    done = "reactivated" if status == EventDestination.Status.ACTIVE else "deactivated"
    act(
        request,
        lambda: services.event_destination_update(
            organization=request.organization,
            destination_id=destination.id,
            changes={"status": status},
        ),
        success=f"Destination {done}.",
    )
    return _back(request, destination)


@require_POST
@login_required
@organization_required
def events_destinations_delete(request: ConsoleRequest, destination_id: str) -> HttpResponse:
    destination = _destination(request, destination_id)
    # Without JavaScript there is no hx-confirm dialog: the plain form asks on a page first.
    if request.POST.get("confirm") != "yes":
        return render(
            request, "console/events_destinations_delete.html", {"destination": destination}
        )
    services.event_destination_delete(
        organization=request.organization, destination_id=destination.id
    )
    messages.success(request, "Destination deleted, with its delivery log.")
    return redirect_after_post(request, reverse("console:events_destinations"))


@require_POST
@login_required
@organization_required
def events_destinations_redeliver(request: ConsoleRequest, destination_id: str) -> HttpResponse:
    destination = _destination(request, destination_id)
    form = RedeliverFailedForm(request.POST)
    if form.is_valid():
        try:
            count = services.event_deliveries_redeliver_failed(
                organization=request.organization,
                destination_id=destination.id,
                since=form.cleaned_data["since"],
            )
        except DeckError as error:
            form.add_deck_error(error)
        else:
            messages.success(request, f"{count} failed deliveries queued again.")
            return _back(request, destination)
    return _render_destination(request, destination, redeliver_form=form, partial="redeliver")


@require_POST
@login_required
@organization_required
def events_destinations_redeliver_one(
    request: ConsoleRequest, destination_id: str, delivery_id: str
) -> HttpResponse:
    destination = _destination(request, destination_id)
    delivery: EventDelivery = get_or_404(
        selectors.event_delivery_get,
        organization=request.organization,
        destination_id=destination.id,
        delivery_id=delivery_id,
    )
    act(
        request,
        lambda: services.event_delivery_redeliver(
            organization=request.organization,
            destination_id=destination.id,
            delivery_id=delivery.id,
        ),
        success="Delivery queued again.",
    )
    return _back(request, destination)
