"""Writes for events, event destinations and the delivery outbox.

The outbox: ``event_record`` writes the event inside the transaction of the change it
announces. ``events_fan_out`` later turns each new event into one ``EventDelivery`` row per
matching active destination, and ``deliveries_claim`` / ``deliveries_record`` move those rows
through their attempts. Nothing depends on the broker or a worker staying alive: a row that is
not recorded as delivered is sent again, so delivery is at least once and ordering is not
promised.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from deck.events import selectors
from deck.events.amqp import server_url_masked, server_url_parameters
from deck.events.errors import InvalidInput, StateConflict
from deck.events.models import (
    ALL_EVENTS,
    EVENT_TYPES,
    TEST_EVENT_TYPE,
    Event,
    EventDelivery,
    EventDestination,
)
from deck.events.network import host_is_literal_private
from deck.events.schemas import destination_event_data
from deck.events.signing import secret_generate
from deck.models import Organization
from deck.vault.services import vault_destroy, vault_store

SECRET_PURPOSE = "event_destination.secret"
HEADERS_PURPOSE = "event_destination.headers"
SERVER_URL_PURPOSE = "event_destination.server_url"

# After a rotation the previous secret signs too, so receivers can switch at their pace.
ROTATION_OVERLAP = timedelta(hours=24)

# Delay before each retry: attempt n + 1 waits RETRY_SCHEDULE[n - 1], shortened by up to
# JITTER at random so that deliveries failing together do not retry together. Ten attempts
# span about 23 hours; a delivery still failing after the last one is given up on.
RETRY_SCHEDULE = (
    timedelta(seconds=5),
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(minutes=30),
    timedelta(hours=1),
    timedelta(hours=3),
    timedelta(hours=6),
    timedelta(hours=12),
)
MAX_ATTEMPTS = len(RETRY_SCHEDULE) + 1
JITTER = 0.2
# A Retry-After longer than this is capped (a receiver must not park a delivery for weeks).
MAX_RETRY_AFTER = timedelta(hours=24)
RESPONSE_BODY_CHARS = 1024
ERROR_CHARS = 500
FAN_OUT_BATCH = 500

HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")
HEADER_VALUE = re.compile(r"^[\t\x20-\x7e]{0,4096}$")
MAX_CUSTOM_HEADERS = 20
# Hop-by-hop headers, headers that describe the body Deck sends, and the signature headers.
RESERVED_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "content-type",
        "content-encoding",
        "expect",
    }
)
RESERVED_HEADER_PREFIX = "webhook-"
EXCHANGE_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,255}$")
WEBHOOK_FIELDS = ("url", "custom_headers")
RABBITMQ_FIELDS = ("server_url", "exchange")


def event_record(*, organization_id: str, type: str, data: dict[str, Any]) -> Event:
    """Call inside the transaction of the change the event announces, so both commit or
    neither does."""
    return Event.objects.create(organization_id=organization_id, type=type, data=data)


# -- validation ---------------------------------------------------------------------------


def _event_types(events: Sequence[str]) -> list[str]:
    if not events:
        raise InvalidInput('events must list event types, or be ["*"].', field="events")
    if ALL_EVENTS in events and len(events) > 1:
        raise InvalidInput('events takes ["*"] or a list of event types, not both.', field="events")
    for index, event_type in enumerate(events):
        if event_type != ALL_EVENTS and event_type not in EVENT_TYPES:
            raise InvalidInput(f"{event_type!r} is not an event type.", field=f"events[{index}]")
    return list(dict.fromkeys(events))


def _webhook_url(url: str) -> str:
    url = url.strip()
    invalid = InvalidInput("url must be an http or https URL.", field="url")
    if not url.isascii() or any(character.isspace() or ord(character) < 32 for character in url):
        # Non-ASCII host names go in their punycode (xn--) form, paths percent-encoded.
        raise invalid
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError as exc:
        raise invalid from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid
    if parts.username is not None or parts.password is not None:
        raise InvalidInput(
            "url must not hold credentials; send them in custom_headers.", field="url"
        )
    if not settings.DECK_DESTINATIONS_ALLOW_PRIVATE and host_is_literal_private(parts.hostname):
        raise InvalidInput(
            "url points at a loopback or private address, which this server refuses.",
            field="url",
        )
    return url


def _custom_headers(headers: Mapping[str, str]) -> dict[str, str]:
    if len(headers) > MAX_CUSTOM_HEADERS:
        raise InvalidInput(
            f"custom_headers takes at most {MAX_CUSTOM_HEADERS} headers.", field="custom_headers"
        )
    seen: set[str] = set()
    for name, value in headers.items():
        field = f"custom_headers.{name}"
        lowered = name.lower()
        if not HEADER_NAME.match(name):
            raise InvalidInput(f"{name!r} is not a valid header name.", field=field)
        if lowered in RESERVED_HEADERS or lowered.startswith(RESERVED_HEADER_PREFIX):
            raise InvalidInput(f"{name} is set by Deck and cannot be overridden.", field=field)
        if lowered in seen:
            raise InvalidInput(f"{name} is given twice.", field=field)
        if not isinstance(value, str) or not HEADER_VALUE.match(value):
            raise InvalidInput(
                f"The value of {name} must be printable ASCII (at most 4096 characters).",
                field=field,
            )
        seen.add(lowered)
    return dict(headers)


def _server_url(server_url: str) -> str:
    server_url = server_url.strip()
    try:
        parameters = server_url_parameters(server_url)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(
            "server_url must be an amqp:// or amqps:// URL (amqp://user:password@host:5672/vhost).",
            field="server_url",
        ) from exc
    if not settings.DECK_DESTINATIONS_ALLOW_PRIVATE and host_is_literal_private(parameters.host):
        raise InvalidInput(
            "server_url points at a loopback or private address, which this server refuses.",
            field="server_url",
        )
    return server_url


def _exchange(exchange: str) -> str:
    if not EXCHANGE_NAME.match(exchange):
        raise InvalidInput(
            "exchange must be 1 to 255 letters, digits, '-', '_', '.' or ':'.", field="exchange"
        )
    return exchange


def _refuse_other_type_fields(destination_type: str, given: Iterable[str]) -> None:
    foreign = (
        RABBITMQ_FIELDS if destination_type == EventDestination.Type.WEBHOOK else WEBHOOK_FIELDS
    )
    for field in given:
        if field in foreign:
            raise InvalidInput(
                f"{field} does not apply to a {destination_type} destination.", field=field
            )


# -- destinations -------------------------------------------------------------------------


def _store_custom_headers(destination: EventDestination, headers: Mapping[str, str]) -> list[str]:
    """Puts ``headers`` in the vault for ``destination``; returns the replaced token ids."""
    replaced = [destination.custom_headers_token] if destination.custom_headers_token else []
    destination.custom_header_names = list(headers)
    destination.custom_headers_token = (
        vault_store(
            organization=destination.organization,
            purpose=HEADERS_PURPOSE,
            plaintext=json.dumps(dict(headers)),
        )
        if headers
        else ""
    )
    return replaced


def _store_server_url(destination: EventDestination, server_url: str) -> list[str]:
    replaced = [destination.server_url_token] if destination.server_url_token else []
    destination.server_url_token = vault_store(
        organization=destination.organization, purpose=SERVER_URL_PURPOSE, plaintext=server_url
    )
    destination.server_url_masked = server_url_masked(server_url)
    return replaced


def event_destination_create(
    *,
    organization: Organization,
    type: str,
    events: Sequence[str],
    status: str = EventDestination.Status.ACTIVE,
    url: str | None = None,
    custom_headers: Mapping[str, str] | None = None,
    server_url: str | None = None,
    exchange: str | None = None,
) -> tuple[EventDestination, str | None]:
    """Atomic: the destination and its vault tokens together; not idempotent (the API's
    Idempotency-Key covers retries). Returns the signing secret, which is never shown again."""
    given = {
        name
        for name, value in {
            "url": url,
            "custom_headers": custom_headers,
            "server_url": server_url,
            "exchange": exchange,
        }.items()
        if value is not None
    }
    _refuse_other_type_fields(type, given)
    destination = EventDestination(
        organization=organization,
        type=type,
        events=_event_types(events),
        status=status,
        status_reason=""
        if status == EventDestination.Status.ACTIVE
        else EventDestination.Reason.MANUAL,
    )
    secret: str | None = None
    if type == EventDestination.Type.WEBHOOK:
        if url is None:
            raise InvalidInput("url is required for a webhook destination.", field="url")
        destination.url = _webhook_url(url)
        headers = _custom_headers(custom_headers or {})
        with transaction.atomic():
            _store_custom_headers(destination, headers)
            secret = secret_generate()
            destination.secret_token = vault_store(
                organization=organization, purpose=SECRET_PURPOSE, plaintext=secret
            )
            destination.save()
        return destination, secret
    if server_url is None:
        raise InvalidInput("server_url is required for a rabbitmq destination.", field="server_url")
    if exchange is None:
        raise InvalidInput("exchange is required for a rabbitmq destination.", field="exchange")
    server_url = _server_url(server_url)
    destination.exchange = _exchange(exchange)
    with transaction.atomic():
        _store_server_url(destination, server_url)
        destination.save()
    return destination, None


def event_destination_update(
    *, organization: Organization, destination_id: str, changes: Mapping[str, Any]
) -> EventDestination:
    """Atomic: the row, its replaced vault tokens and any activated / deactivated event
    commit together. Idempotent: setting the status it already has emits nothing."""
    changes = {name: value for name, value in changes.items() if value is not None}
    with transaction.atomic():
        destination = selectors.event_destination_get(
            organization=organization, destination_id=destination_id, for_update=True
        )
        _refuse_other_type_fields(destination.type, changes)
        replaced: list[str] = []
        fields = ["updated_at"]
        if "events" in changes:
            destination.events = _event_types(changes["events"])
            fields.append("events")
        if "url" in changes:
            destination.url = _webhook_url(changes["url"])
            fields.append("url")
        if "custom_headers" in changes:
            replaced += _store_custom_headers(
                destination, _custom_headers(changes["custom_headers"])
            )
            fields += ["custom_header_names", "custom_headers_token"]
        if "server_url" in changes:
            replaced += _store_server_url(destination, _server_url(changes["server_url"]))
            fields += ["server_url_token", "server_url_masked"]
        if "exchange" in changes:
            destination.exchange = _exchange(changes["exchange"])
            fields.append("exchange")
        # Never the status: that changes only through the conditional updates below, which
        # a delivery worker deactivating the destination at the same moment also uses.
        destination.save(update_fields=fields)
        vault_destroy(organization=organization, token_ids=replaced)
        if changes.get("status") == EventDestination.Status.ACTIVE:
            _destination_activate(destination.id)
        elif changes.get("status") == EventDestination.Status.INACTIVE:
            _destination_deactivate(destination.id, reason=EventDestination.Reason.MANUAL)
        destination.refresh_from_db()
    return destination


def _destination_activate(destination_id: str) -> bool:
    """Inside the caller's transaction: inactive → active with its event. Deliveries held
    while inactive resume; failed ones stay failed until redelivered."""
    moved = EventDestination.objects.filter(
        pk=destination_id, status=EventDestination.Status.INACTIVE
    )
    if not moved.update(
        status=EventDestination.Status.ACTIVE, status_reason="", updated_at=timezone.now()
    ):
        return False
    _destination_event(destination_id, "event_destination.activated")
    return True


def _destination_deactivate(destination_id: str, *, reason: str) -> bool:
    """Inside the caller's transaction: active → inactive with its event; False if it was
    not active (someone else deactivated it first)."""
    moved = EventDestination.objects.filter(
        pk=destination_id, status=EventDestination.Status.ACTIVE
    )
    if not moved.update(
        status=EventDestination.Status.INACTIVE, status_reason=reason, updated_at=timezone.now()
    ):
        return False
    _destination_event(destination_id, "event_destination.deactivated")
    return True


def _destination_event(destination_id: str, event_type: str) -> None:
    destination = EventDestination.objects.get(pk=destination_id)
    event_record(
        organization_id=destination.organization_id,
        type=event_type,
        data=destination_event_data(destination),
    )


def event_destination_delete(*, organization: Organization, destination_id: str) -> None:
    """Atomic: the destination, its delivery log and its vault tokens go together."""
    with transaction.atomic():
        destination = selectors.event_destination_get(
            organization=organization, destination_id=destination_id, for_update=True
        )
        tokens = destination.vault_token_ids()
        destination.delete()
        vault_destroy(organization=organization, token_ids=tokens)


def event_destination_rotate_secret(
    *, organization: Organization, destination_id: str
) -> tuple[EventDestination, str]:
    """Atomic: a new secret becomes current, the current one keeps signing for 24 hours, and
    an older previous secret is destroyed. Not idempotent: each call rotates."""
    with transaction.atomic():
        destination = selectors.event_destination_get(
            organization=organization, destination_id=destination_id, for_update=True
        )
        if destination.type != EventDestination.Type.WEBHOOK:
            raise StateConflict("Only webhook destinations have a signing secret.")
        stale = destination.previous_secret_token
        secret = secret_generate()
        destination.previous_secret_token = destination.secret_token
        destination.previous_secret_expires_at = timezone.now() + ROTATION_OVERLAP
        destination.secret_token = vault_store(
            organization=organization, purpose=SECRET_PURPOSE, plaintext=secret
        )
        destination.save(
            update_fields=[
                "secret_token",
                "previous_secret_token",
                "previous_secret_expires_at",
                "updated_at",
            ]
        )
        vault_destroy(organization=organization, token_ids=[stale] if stale else [])
    return destination, secret


def event_destination_secrets_expire() -> int:
    """Idempotent: forgets previous signing secrets whose overlap has passed; each in its own
    short transaction, conditional on the token still being the one read."""
    expired = EventDestination.objects.filter(
        previous_secret_expires_at__lte=timezone.now()
    ).exclude(previous_secret_token="")
    forgotten = 0
    for destination in expired.select_related("organization"):
        with transaction.atomic():
            if EventDestination.objects.filter(
                pk=destination.pk, previous_secret_token=destination.previous_secret_token
            ).update(previous_secret_token="", previous_secret_expires_at=None):
                vault_destroy(
                    organization=destination.organization,
                    token_ids=[destination.previous_secret_token],
                )
                forgotten += 1
    return forgotten


def event_destination_test(*, organization: Organization, destination_id: str) -> EventDelivery:
    """Atomic: a test event meant for this destination only (born fanned out, so no other
    destination receives it) and its pending delivery. Not idempotent: each call sends one."""
    with transaction.atomic():
        destination = selectors.event_destination_get(
            organization=organization, destination_id=destination_id
        )
        if destination.status != EventDestination.Status.ACTIVE:
            raise StateConflict("This destination is inactive; activate it before testing it.")
        now = timezone.now()
        event = Event.objects.create(
            organization=organization,
            type=TEST_EVENT_TYPE,
            data=destination_event_data(destination),
            fanned_out_at=now,
        )
        return EventDelivery.objects.create(
            organization=organization, event=event, destination=destination, next_attempt_at=now
        )


# -- redelivery ---------------------------------------------------------------------------


def _restart(deliveries: Any) -> int:
    now = timezone.now()
    return int(
        deliveries.update(
            status=EventDelivery.Status.PENDING,
            attempts=0,
            next_attempt_at=now,
            lease_expires_at=None,
            claim_token="",
            updated_at=now,
        )
    )


def _require_active(destination: EventDestination) -> None:
    if destination.status != EventDestination.Status.ACTIVE:
        raise StateConflict("This destination is inactive; activate it before redelivering.")


def event_delivery_redeliver(
    *, organization: Organization, destination_id: str, delivery_id: str
) -> EventDelivery:
    """Conditional update: a finished delivery starts a new cycle of attempts; a pending one
    is left as it is (idempotent); one being sent right now is a conflict."""
    delivery = selectors.event_delivery_get(
        organization=organization, destination_id=destination_id, delivery_id=delivery_id
    )
    _require_active(delivery.destination)
    if delivery.status != EventDelivery.Status.PENDING:
        finished = (EventDelivery.Status.SUCCEEDED, EventDelivery.Status.FAILED)
        if not _restart(EventDelivery.objects.filter(pk=delivery.pk, status__in=finished)):
            raise StateConflict("This delivery is being sent right now; try again shortly.")
    delivery.refresh_from_db()
    return delivery


def event_deliveries_redeliver_failed(
    *, organization: Organization, destination_id: str, since: datetime
) -> int:
    """One conditional update of every failed delivery of events created since ``since``.
    Idempotent: a repeat finds them pending and changes nothing."""
    destination = selectors.event_destination_get(
        organization=organization, destination_id=destination_id
    )
    _require_active(destination)
    return _restart(
        EventDelivery.objects.filter(
            destination=destination,
            status=EventDelivery.Status.FAILED,
            event__created_at__gte=since,
        )
    )


# -- the outbox ---------------------------------------------------------------------------


def events_fan_out(*, limit: int = FAN_OUT_BATCH) -> int:
    """Atomic per batch: creates the deliveries of up to ``limit`` new events and marks them
    fanned out. Idempotent: concurrent fan-outs skip each other's locked events (PostgreSQL),
    and the (event, destination) constraint absorbs any repeat. Returns the events handled."""
    now = timezone.now()
    with transaction.atomic():
        events = list(
            Event.objects.filter(fanned_out_at__isnull=True)
            .order_by("created_at")
            .select_for_update(skip_locked=True)
            .only("id", "organization_id", "type", "created_at")[:limit]
        )
        if not events:
            return 0
        destinations: dict[str, list[EventDestination]] = defaultdict(list)
        for destination in EventDestination.objects.filter(
            organization_id__in={event.organization_id for event in events},
            status=EventDestination.Status.ACTIVE,
        ).only("id", "organization_id", "events", "created_at"):
            destinations[destination.organization_id].append(destination)
        deliveries = [
            EventDelivery(
                organization_id=event.organization_id,
                event_id=event.id,
                destination_id=destination.id,
                next_attempt_at=now,
            )
            for event in events
            if event.type != TEST_EVENT_TYPE
            for destination in destinations[event.organization_id]
            # A destination receives what happens after it was created, not history.
            if destination.created_at <= event.created_at and destination.subscribes_to(event.type)
        ]
        EventDelivery.objects.bulk_create(deliveries, ignore_conflicts=True, batch_size=500)
        Event.objects.filter(pk__in=[event.pk for event in events]).update(fanned_out_at=now)
    return len(events)


@dataclass(frozen=True)
class Claim:
    token: str
    deliveries: list[EventDelivery]


def deliveries_claim(*, limit: int, lease: timedelta) -> Claim:
    """Conditional update: every due row (pending and due, or sending with an expired lease:
    its worker died) goes to exactly one claimer, with a fresh lease and one more attempt.
    Deliveries of inactive destinations are held, not claimed."""
    now = timezone.now()
    due_pending = Q(status=EventDelivery.Status.PENDING, next_attempt_at__lte=now)
    lease_expired = Q(status=EventDelivery.Status.SENDING, lease_expires_at__lte=now)
    active = EventDelivery.objects.filter(destination__status=EventDestination.Status.ACTIVE)
    # Two index-friendly reads rather than one OR: the oldest due first, then rows whose
    # worker died.
    candidates = list(
        active.filter(due_pending).order_by("next_attempt_at").values_list("pk", flat=True)[:limit]
    )
    if len(candidates) < limit:
        candidates += active.filter(lease_expired).values_list("pk", flat=True)[
            : limit - len(candidates)
        ]
    if not candidates:
        return Claim(token="", deliveries=[])
    token = uuid.uuid4().hex
    # The condition is evaluated again on each row as it is updated: a row another claimer
    # took in the meantime no longer matches and is left alone.
    EventDelivery.objects.filter(due_pending | lease_expired, pk__in=candidates).update(
        status=EventDelivery.Status.SENDING,
        claim_token=token,
        lease_expires_at=now + lease,
        last_attempt_at=now,
        attempts=F("attempts") + 1,
        updated_at=now,
    )
    claimed = EventDelivery.objects.filter(
        pk__in=candidates, claim_token=token, status=EventDelivery.Status.SENDING
    ).select_related("event", "destination", "destination__organization")
    return Claim(token=token, deliveries=list(claimed))


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to."""

    succeeded: bool
    status_code: int | None = None
    latency_ms: int | None = None
    response_body: str = ""
    error: str = ""
    retry_after: float | None = None  # seconds the receiver asked us to wait
    gone: bool = False  # 410: the receiver says this endpoint will never exist again


def retry_delay(*, attempts: int, retry_after: float | None = None) -> timedelta:
    """How long to wait after the ``attempts``-th failed attempt: the schedule with jitter,
    and never sooner than the receiver's Retry-After (capped at MAX_RETRY_AFTER)."""
    step = RETRY_SCHEDULE[min(attempts, len(RETRY_SCHEDULE)) - 1]
    delay = step * (1 - JITTER * random.random())  # noqa: S311 (jitter, not a secret)
    if retry_after is not None:
        delay = max(delay, min(timedelta(seconds=retry_after), MAX_RETRY_AFTER))
    return delay


def _clean(text: str, limit: int) -> str:
    return text.replace("\x00", "")[:limit]  # PostgreSQL text cannot hold NUL


def deliveries_record(*, claim: Claim, outcomes: Mapping[str, Outcome]) -> None:
    """Atomic over the batch. Rows are written only while this claim still holds them, so a
    claimer that outlived its lease (and lost the rows to another) changes nothing. A
    delivery without an outcome was not attempted: its lease expires and it is claimed
    again."""
    now = timezone.now()
    held = EventDelivery.objects.filter(
        status=EventDelivery.Status.SENDING, claim_token=claim.token
    )
    attempted = [delivery for delivery in claim.deliveries if delivery.pk in outcomes]
    succeeded = {d.pk: outcomes[d.pk] for d in attempted if outcomes[d.pk].succeeded}
    with transaction.atomic():
        # Successes first, so a final failure in the same batch sees that its destination
        # was reached; one statement per distinct (status, latency, body), which for a
        # healthy endpoint is a handful per batch.
        groups: dict[tuple[int | None, int | None, str], list[str]] = defaultdict(list)
        for pk, outcome in succeeded.items():
            key = (
                outcome.status_code,
                outcome.latency_ms,
                _clean(outcome.response_body, RESPONSE_BODY_CHARS),
            )
            groups[key].append(pk)
        for (status_code, latency_ms, response_body), pks in groups.items():
            held.filter(pk__in=pks).update(
                status=EventDelivery.Status.SUCCEEDED,
                delivered_at=now,
                next_attempt_at=None,
                lease_expires_at=None,
                claim_token="",
                response_status_code=status_code,
                response_latency_ms=latency_ms,
                response_body=response_body,
                error="",
                updated_at=now,
            )
        for delivery in attempted:
            outcome = outcomes[delivery.pk]
            if outcome.succeeded:
                continue
            row = held.filter(pk=delivery.pk)
            fields: dict[str, Any] = {
                "response_status_code": outcome.status_code,
                "response_latency_ms": outcome.latency_ms,
                "response_body": _clean(outcome.response_body, RESPONSE_BODY_CHARS),
                "error": _clean(outcome.error, ERROR_CHARS),
                "lease_expires_at": None,
                "claim_token": "",
                "updated_at": now,
            }
            if outcome.gone or delivery.attempts >= MAX_ATTEMPTS:
                if row.update(status=EventDelivery.Status.FAILED, next_attempt_at=None, **fields):
                    _after_final_failure(delivery, gone=outcome.gone)
            else:
                delay = retry_delay(attempts=delivery.attempts, retry_after=outcome.retry_after)
                row.update(
                    status=EventDelivery.Status.PENDING, next_attempt_at=now + delay, **fields
                )


def _after_final_failure(delivery: EventDelivery, *, gone: bool) -> None:
    """410 deactivates at once. A delivery that failed past the whole schedule deactivates
    its destination only if nothing else reached it meanwhile: one bad event must not cut
    off an endpoint that accepts the rest."""
    if gone:
        _destination_deactivate(
            delivery.destination_id, reason=EventDestination.Reason.ENDPOINT_GONE
        )
        return
    reached = EventDelivery.objects.filter(
        destination_id=delivery.destination_id,
        status=EventDelivery.Status.SUCCEEDED,
        delivered_at__gte=delivery.created_at,
    ).exists()
    if not reached:
        _destination_deactivate(
            delivery.destination_id, reason=EventDestination.Reason.TOO_MANY_FAILURES
        )


def events_prune(*, older_than: timedelta, batch: int = 1000) -> int:
    """Idempotent; deletes events (and their delivery log) in batches, each its own short
    transaction, so pruning never holds the table for long."""
    cutoff = timezone.now() - older_than
    pruned = 0
    while True:
        ids = list(Event.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[:batch])
        if not ids:
            return pruned
        Event.objects.filter(pk__in=ids).delete()
        pruned += len(ids)
