"""Sending claimed deliveries: webhooks over HTTP and publishes to RabbitMQ, several at once,
outside any transaction. Secrets are revealed on the calling thread; the sending threads only
sign and do network I/O, and never touch the database."""

from __future__ import annotations

import email.utils
import json
import logging
import math
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpcore
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from deck.events import services
from deck.events.amqp import AmqpMessage, amqp_publish
from deck.events.errors import DeliveryRefused
from deck.events.models import Event, EventDelivery, EventDestination
from deck.events.network import http_post
from deck.events.schemas import event_representation
from deck.events.signing import signature_headers
from deck.vault.errors import VaultError
from deck.vault.services import vault_reveal

logger = logging.getLogger(__name__)

USER_AGENT = "Deck-Webhooks/1.0"


def event_body(event: Event) -> str:
    """The event exactly as ``GET /v2/events/{id}`` returns it, as compact JSON (ASCII, so
    the signed text and the bytes sent are the same)."""
    return json.dumps(event_representation(event), cls=DjangoJSONEncoder, separators=(",", ":"))


@dataclass
class _Secrets:
    signing: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    server_url: str = ""


def _reveal(destination: EventDestination) -> _Secrets:
    organization = destination.organization

    def reveal(token_id: str, purpose: str) -> str:
        return vault_reveal(organization=organization, token_id=token_id, purpose=purpose)

    if destination.type == EventDestination.Type.RABBITMQ:
        return _Secrets(
            server_url=reveal(destination.server_url_token, services.SERVER_URL_PURPOSE)
        )
    signing = [reveal(destination.secret_token, services.SECRET_PURPOSE)]
    expires = destination.previous_secret_expires_at
    if destination.previous_secret_token and expires and expires > timezone.now():
        signing.append(reveal(destination.previous_secret_token, services.SECRET_PURPOSE))
    headers = (
        json.loads(reveal(destination.custom_headers_token, services.HEADERS_PURPOSE))
        if destination.custom_headers_token
        else {}
    )
    return _Secrets(signing=signing, headers=headers)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delay-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - timezone.now()).total_seconds())


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _send_webhook(delivery: EventDelivery, secrets: _Secrets) -> services.Outcome:
    """One signed POST. Never raises: every failure becomes the outcome's error."""
    event = delivery.event
    destination = delivery.destination
    timeout = float(settings.DECK_WEBHOOK_TIMEOUT_SECONDS)
    body = event_body(event)
    headers = [
        ("content-type", "application/json"),
        ("user-agent", USER_AGENT),
        *secrets.headers.items(),
        # Signed just before sending: receivers reject timestamps more than minutes old.
        *signature_headers(
            message_id=event.id,
            timestamp=datetime.now(tz=UTC),
            body=body,
            signing_secrets=secrets.signing,
        ).items(),
    ]
    started = time.monotonic()
    try:
        answer = http_post(
            url=destination.url,
            headers=headers,
            body=body.encode(),
            timeout=timeout,
            allow_private=settings.DECK_DESTINATIONS_ALLOW_PRIVATE,
        )
    except DeliveryRefused as exc:
        return services.Outcome(succeeded=False, error=str(exc))
    except httpcore.TimeoutException:
        return services.Outcome(
            succeeded=False,
            latency_ms=_elapsed_ms(started),
            error=f"No answer within {timeout:g} s.",
        )
    except httpcore.ConnectError as exc:
        return services.Outcome(
            succeeded=False, latency_ms=_elapsed_ms(started), error=f"Cannot connect: {exc}"
        )
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as exc:
        return services.Outcome(
            succeeded=False,
            latency_ms=_elapsed_ms(started),
            error=f"{type(exc).__name__}: {exc}",
        )
    latency = _elapsed_ms(started)
    snippet = answer.body[: services.RESPONSE_BODY_CHARS].decode("utf-8", errors="replace")
    if 200 <= answer.status < 300:
        return services.Outcome(
            succeeded=True, status_code=answer.status, latency_ms=latency, response_body=snippet
        )
    if 300 <= answer.status < 400:
        error = "Redirects are not followed; point the destination at the final URL."
    else:
        error = f"The endpoint answered {answer.status}."
    return services.Outcome(
        succeeded=False,
        status_code=answer.status,
        latency_ms=latency,
        response_body=snippet,
        error=error,
        retry_after=_retry_after(answer.headers.get("retry-after")),
        gone=answer.status == 410,
    )


def _publish(
    destination: EventDestination, deliveries: list[EventDelivery], secrets: _Secrets
) -> list[services.Outcome]:
    """One connection for all of a destination's deliveries in the batch."""
    messages = [
        AmqpMessage(
            message_id=delivery.event.id,
            routing_key=delivery.event.type,
            body=event_body(delivery.event).encode(),
            timestamp=int(delivery.event.created_at.timestamp()),
        )
        for delivery in deliveries
    ]
    started = time.monotonic()
    errors = amqp_publish(
        server_url=secrets.server_url,
        exchange=destination.exchange,
        messages=messages,
        timeout=float(settings.DECK_WEBHOOK_TIMEOUT_SECONDS),
        allow_private=settings.DECK_DESTINATIONS_ALLOW_PRIVATE,
    )
    latency = _elapsed_ms(started) // max(1, len(messages))
    return [
        services.Outcome(
            succeeded=not error,
            latency_ms=latency,
            response_body="" if error else "confirmed by the broker",
            error=error,
        )
        for error in errors
    ]


@dataclass(frozen=True)
class _Unit:
    """What one thread does: one webhook delivery, or every delivery of the batch to one
    RabbitMQ destination (on one connection)."""

    destination: EventDestination
    deliveries: list[EventDelivery]
    secrets: _Secrets


def _units(deliveries: list[EventDelivery]) -> tuple[list[_Unit], dict[str, services.Outcome]]:
    """Reveals each destination's secrets once, on this thread. Deliveries whose secrets
    cannot be revealed fail at once."""
    revealed: dict[str, _Secrets | services.Outcome] = {}
    units: list[_Unit] = []
    failed: dict[str, services.Outcome] = {}
    publishes: dict[str, list[EventDelivery]] = defaultdict(list)
    for delivery in deliveries:
        destination = delivery.destination
        if destination.pk not in revealed:
            try:
                revealed[destination.pk] = _reveal(destination)
            except VaultError as exc:
                logger.warning("Cannot reveal the secrets of %s: %s", destination.pk, exc)
                revealed[destination.pk] = services.Outcome(
                    succeeded=False, error=f"The destination's secrets cannot be read: {exc}"
                )
        secrets = revealed[destination.pk]
        if isinstance(secrets, services.Outcome):
            failed[delivery.pk] = secrets
        elif destination.type == EventDestination.Type.RABBITMQ:
            publishes[destination.pk].append(delivery)
        else:
            units.append(_Unit(destination, [delivery], secrets))
    for group in publishes.values():
        secrets = revealed[group[0].destination.pk]
        assert isinstance(secrets, _Secrets)
        units.append(_Unit(group[0].destination, group, secrets))
    return units, failed


def _run(unit: _Unit) -> list[services.Outcome]:
    try:
        if unit.destination.type == EventDestination.Type.RABBITMQ:
            return _publish(unit.destination, unit.deliveries, unit.secrets)
        return [_send_webhook(delivery, unit.secrets) for delivery in unit.deliveries]
    except Exception:
        # A bug, not a receiver's fault: logged with its trace, and the attempt counts as
        # failed so the delivery is retried on schedule rather than lost.
        logger.exception("Sending %s failed", ", ".join(d.pk for d in unit.deliveries))
        failure = services.Outcome(succeeded=False, error="Internal error while sending.")
        return [failure] * len(unit.deliveries)


_executors: dict[int, ThreadPoolExecutor] = {}
_executors_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    """The sending threads, started once per process (lazily: a forked worker child gets
    its own), sized by DECK_EVENT_DELIVERY_CONCURRENCY."""
    size = settings.DECK_EVENT_DELIVERY_CONCURRENCY
    with _executors_lock:
        executor = _executors.get(size)
        if executor is None:
            executor = _executors[size] = ThreadPoolExecutor(
                max_workers=size, thread_name_prefix="deck-events"
            )
        return executor


def delivery_lease() -> timedelta:
    """Long enough for a whole batch to be sent: rounds of CONCURRENCY sends, each bounded
    by the timeout, plus a margin."""
    rounds = math.ceil(
        settings.DECK_EVENT_DELIVERY_BATCH / settings.DECK_EVENT_DELIVERY_CONCURRENCY
    )
    return timedelta(seconds=rounds * (float(settings.DECK_WEBHOOK_TIMEOUT_SECONDS) + 2) + 30)


def deliveries_send_due(*, limit: int | None = None) -> int:
    """Claims due deliveries, sends them outside any transaction and records the outcomes.
    Safe on many workers at once (claims never overlap); a crash before recording leaves
    the rows to be claimed again when their lease expires (at least once)."""
    claim = services.deliveries_claim(
        limit=limit or settings.DECK_EVENT_DELIVERY_BATCH, lease=delivery_lease()
    )
    if not claim.deliveries:
        return 0
    units, outcomes = _units(claim.deliveries)
    for unit, results in zip(units, _executor().map(_run, units), strict=True):
        outcomes.update(
            (delivery.pk, outcome)
            for delivery, outcome in zip(unit.deliveries, results, strict=True)
        )
    services.deliveries_record(claim=claim, outcomes=outcomes)
    return len(claim.deliveries)


def events_pump(*, budget_seconds: float) -> dict[str, int]:
    """Fans out new events and sends due deliveries until there is nothing left to do or
    the budget is spent. Idempotent and safe to run concurrently."""
    deadline = time.monotonic() + budget_seconds
    totals = {"fanned_out": 0, "sent": 0}
    while time.monotonic() < deadline:
        fanned_out = services.events_fan_out()
        sent = deliveries_send_due()
        totals["fanned_out"] += fanned_out
        totals["sent"] += sent
        if not fanned_out and not sent:
            break
    return totals
