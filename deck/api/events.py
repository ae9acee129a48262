from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Query, Router, Schema, Status
from pydantic import Field

from deck.api.deletion import Deleted, deleted
from deck.api.pagination import DEFAULT_LIMIT, Page, paginate
from deck.api.requests import ApiRequest
from deck.events import selectors, services
from deck.events.errors import InvalidInput
from deck.events.models import EVENT_TYPES, TEST_EVENT_TYPE, Event, EventDelivery
from deck.events.schemas import (
    EventDeliveryOut,
    EventDestinationCreateIn,
    EventDestinationOut,
    EventDestinationUpdateIn,
    EventOut,
    RedeliverIn,
    RedeliveryOut,
    destination_representation,
    event_representation,
)

router = Router(tags=["Events"])
destinations_router = Router(tags=["Event destinations"])

DeliveryStatus = Literal["pending", "sending", "succeeded", "failed"]


class EventList(Page):
    data: list[EventOut]


class EventFilters(Schema):
    type: list[str] = Field(default_factory=list, alias="type[]")
    created_after: datetime | None = None
    created_before: datetime | None = None


@router.get("", response=EventList, summary="List events")
def event_list(
    request: ApiRequest,
    filters: Query[EventFilters],
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> dict[str, Any]:
    for index, event_type in enumerate(filters.type):
        if event_type not in EVENT_TYPES and event_type != TEST_EVENT_TYPE:
            raise InvalidInput(f"{event_type!r} is not an event type.", field=f"type[{index}]")
    events = selectors.event_list(
        organization=request.auth,
        types=filters.type,
        created_after=filters.created_after,
        created_before=filters.created_before,
    )
    page = paginate(events, limit=limit, cursor=cursor)
    page["data"] = [event_representation(event) for event in page["data"]]
    return page


@router.get("/{event_id}", response=EventOut, summary="Get an event")
def event_get(request: ApiRequest, event_id: str) -> dict[str, Any]:
    event: Event = selectors.event_get(organization=request.auth, event_id=event_id)
    return event_representation(event)


# -- destinations -------------------------------------------------------------------------


class EventDestinationList(Page):
    data: list[EventDestinationOut]


class EventDeliveryList(Page):
    data: list[EventDeliveryOut]


@destinations_router.post(
    "",
    response={201: EventDestinationOut},
    exclude_unset=True,
    summary="Create an event destination",
)
def destination_create(
    request: ApiRequest, payload: EventDestinationCreateIn
) -> Status[dict[str, Any]]:
    destination, secret = services.event_destination_create(
        organization=request.auth,
        type=payload.type,
        events=payload.events,
        status=payload.status,
        url=payload.url,
        custom_headers=payload.custom_headers,
        server_url=payload.server_url,
        exchange=payload.exchange,
    )
    return Status(201, destination_representation(destination, secret=secret))


@destinations_router.get(
    "", response=EventDestinationList, exclude_unset=True, summary="List event destinations"
)
def destination_list(
    request: ApiRequest,
    status: Literal["active", "inactive"] | None = None,
    type: Literal["webhook", "rabbitmq"] | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> dict[str, Any]:
    destinations = selectors.event_destination_list(
        organization=request.auth, status=status, type=type
    )
    page = paginate(destinations, limit=limit, cursor=cursor)
    page["data"] = [destination_representation(d) for d in page["data"]]
    return page


@destinations_router.get(
    "/{destination_id}",
    response=EventDestinationOut,
    exclude_unset=True,
    summary="Get an event destination",
)
def destination_get(request: ApiRequest, destination_id: str) -> dict[str, Any]:
    destination = selectors.event_destination_get(
        organization=request.auth, destination_id=destination_id
    )
    return destination_representation(destination)


@destinations_router.patch(
    "/{destination_id}",
    response=EventDestinationOut,
    exclude_unset=True,
    summary="Update, deactivate or reactivate an event destination",
)
def destination_update(
    request: ApiRequest, destination_id: str, payload: EventDestinationUpdateIn
) -> dict[str, Any]:
    destination = services.event_destination_update(
        organization=request.auth,
        destination_id=destination_id,
        changes=payload.dict(exclude_unset=True),
    )
    return destination_representation(destination)


@destinations_router.delete(
    "/{destination_id}", response=Deleted, summary="Delete an event destination"
)
def destination_delete(request: ApiRequest, destination_id: str) -> dict[str, Any]:
    services.event_destination_delete(organization=request.auth, destination_id=destination_id)
    return deleted("event_destination", destination_id)


@destinations_router.post(
    "/{destination_id}/rotate-secret",
    response=EventDestinationOut,
    exclude_unset=True,
    summary="Rotate a webhook's signing secret (the old one signs too for 24 hours)",
)
def destination_rotate_secret(request: ApiRequest, destination_id: str) -> dict[str, Any]:
    destination, secret = services.event_destination_rotate_secret(
        organization=request.auth, destination_id=destination_id
    )
    return destination_representation(destination, secret=secret)


@destinations_router.post(
    "/{destination_id}/test",
    response={202: EventDeliveryOut},
    summary="Send a test event to this destination",
)
def destination_test(request: ApiRequest, destination_id: str) -> Status[EventDelivery]:
    delivery = services.event_destination_test(
        organization=request.auth, destination_id=destination_id
    )
    return Status(202, delivery)


@destinations_router.post(
    "/{destination_id}/redeliver",
    response=RedeliveryOut,
    summary="Redeliver every failed delivery of events since a time",
)
def destination_redeliver(
    request: ApiRequest, destination_id: str, payload: RedeliverIn
) -> dict[str, Any]:
    count = services.event_deliveries_redeliver_failed(
        organization=request.auth, destination_id=destination_id, since=payload.since
    )
    return {"destination_id": destination_id, "since": payload.since, "redelivered": count}


@destinations_router.get(
    "/{destination_id}/event-deliveries",
    response=EventDeliveryList,
    summary="List a destination's deliveries",
)
def delivery_list(
    request: ApiRequest,
    destination_id: str,
    status: DeliveryStatus | None = None,
    type: str | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> dict[str, Any]:
    if type is not None and type not in EVENT_TYPES and type != TEST_EVENT_TYPE:
        raise InvalidInput(f"{type!r} is not an event type.", field="type")
    deliveries = selectors.event_delivery_list(
        organization=request.auth, destination_id=destination_id, status=status, type=type
    )
    return paginate(deliveries, limit=limit, cursor=cursor)


@destinations_router.get(
    "/{destination_id}/event-deliveries/{delivery_id}",
    response=EventDeliveryOut,
    summary="Get a delivery",
)
def delivery_get(request: ApiRequest, destination_id: str, delivery_id: str) -> EventDelivery:
    return selectors.event_delivery_get(
        organization=request.auth, destination_id=destination_id, delivery_id=delivery_id
    )


@destinations_router.post(
    "/{destination_id}/event-deliveries/{delivery_id}/redeliver",
    response=EventDeliveryOut,
    summary="Redeliver one delivery",
)
def delivery_redeliver(request: ApiRequest, destination_id: str, delivery_id: str) -> EventDelivery:
    return services.event_delivery_redeliver(
        organization=request.auth, destination_id=destination_id, delivery_id=delivery_id
    )
