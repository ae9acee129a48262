"""How events, event destinations and deliveries look in the API (and in event payloads)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Schema
from pydantic import ConfigDict, Field

from deck.events.models import Event, EventDelivery, EventDestination

MASKED_HEADER_VALUE = "[redacted]"


class Strict(Schema):
    """Request bodies: unknown fields are an error, so a typo never silently does nothing."""

    model_config = ConfigDict(extra="forbid")


# -- events -------------------------------------------------------------------------------


class EventOut(Schema):
    id: str
    object: Literal["event"] = "event"
    type: str
    data: dict[str, Any]
    created_at: datetime


def event_representation(event: Event) -> dict[str, Any]:
    """What the API returns and what destinations receive (the same object)."""
    return {
        "id": event.id,
        "object": "event",
        "type": event.type,
        "data": event.data,
        "created_at": event.created_at,
    }


# -- destinations -------------------------------------------------------------------------


class EventDestinationOut(Schema):
    id: str
    object: Literal["event_destination"] = "event_destination"
    type: Literal["webhook", "rabbitmq"]
    status: Literal["active", "inactive"]
    status_reason: Literal["manual", "endpoint_gone", "too_many_failures"] | None = Field(
        None, description="Why an inactive destination is inactive; null while active."
    )
    events: list[str]
    url: str | None = Field(None, description="webhook: where events are POSTed.")
    custom_headers: dict[str, str] | None = Field(
        None, description="webhook: header names; values are write-only and shown masked."
    )
    secret: str | None = Field(
        None,
        description="webhook: the signing secret, returned only by create and rotate-secret.",
    )
    server_url: str | None = Field(None, description="rabbitmq: the AMQP URL, password masked.")
    exchange: str | None = Field(None, description="rabbitmq: the exchange events go to.")
    created_at: datetime
    updated_at: datetime


def destination_representation(
    destination: EventDestination, *, secret: str | None = None
) -> dict[str, Any]:
    """The destination as the API returns it; never a stored secret (``secret`` is the one
    just generated, for the create and rotate-secret responses)."""
    representation: dict[str, Any] = {
        "id": destination.id,
        "object": "event_destination",
        "type": destination.type,
        "status": destination.status,
        "status_reason": destination.status_reason or None,
        "events": list(destination.events),
    }
    if destination.type == EventDestination.Type.WEBHOOK:
        representation["url"] = destination.url
        representation["custom_headers"] = dict.fromkeys(
            destination.custom_header_names, MASKED_HEADER_VALUE
        )
        if secret is not None:
            representation["secret"] = secret
    else:
        representation["server_url"] = destination.server_url_masked
        representation["exchange"] = destination.exchange
    representation["created_at"] = destination.created_at
    representation["updated_at"] = destination.updated_at
    return representation


def destination_event_data(destination: EventDestination) -> dict[str, Any]:
    """``destination_representation`` as plain JSON, for event payloads."""
    return EventDestinationOut.model_validate(destination_representation(destination)).model_dump(
        mode="json", exclude_unset=True
    )


EventTypeList = list[str]


class EventDestinationCreateIn(Strict):
    type: Literal["webhook", "rabbitmq"]
    events: EventTypeList = Field(description='Event types, or ["*"] for all of them.')
    status: Literal["active", "inactive"] = "active"
    url: str | None = Field(None, max_length=2000)
    custom_headers: dict[str, str] | None = None
    server_url: str | None = Field(None, max_length=2000)
    exchange: str | None = Field(None, max_length=255)


class EventDestinationUpdateIn(Strict):
    events: EventTypeList | None = None
    status: Literal["active", "inactive"] | None = None
    url: str | None = Field(None, max_length=2000)
    custom_headers: dict[str, str] | None = None
    server_url: str | None = Field(None, max_length=2000)
    exchange: str | None = Field(None, max_length=255)


class RedeliverIn(Strict):
    since: datetime = Field(description="Redeliver every failed delivery of events since then.")


class RedeliveryOut(Schema):
    object: Literal["redelivery"] = "redelivery"
    destination_id: str
    since: datetime
    redelivered: int


# -- deliveries ---------------------------------------------------------------------------


class EventDeliveryOut(Schema):
    id: str
    object: Literal["event_delivery"] = "event_delivery"
    event_id: str
    event_type: str
    destination_id: str
    status: Literal["pending", "sending", "succeeded", "failed"]
    attempts: int = Field(description="Attempts since the delivery (or its redelivery) began.")
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    response_status_code: int | None
    response_latency_ms: int | None
    response_body: str | None = Field(description="The first kilobyte of the last response.")
    error: str | None = Field(description="Why the last attempt failed, when it did.")
    delivered_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_event_type(obj: EventDelivery) -> str:
        return obj.event.type

    @staticmethod
    def resolve_response_body(obj: EventDelivery) -> str | None:
        return obj.response_body or None

    @staticmethod
    def resolve_error(obj: EventDelivery) -> str | None:
        return obj.error or None
