"""Publishing events to a RabbitMQ exchange: persistent messages, publisher confirms, routing
key = event type. The connection goes through the same SSRF guard as webhooks."""

from __future__ import annotations

import contextlib
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import pika
import pika.exceptions

from deck.events.errors import DeliveryRefused
from deck.events.network import resolve

SCHEMES = ("amqp", "amqps")
PASSWORD_MASK = "****"


@dataclass(frozen=True)
class AmqpMessage:
    message_id: str
    routing_key: str
    body: bytes
    timestamp: int


def server_url_parameters(server_url: str) -> pika.URLParameters:
    """Raises ``ValueError`` for a URL that is not an AMQP server URL pika understands."""
    parts = urlsplit(server_url)
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise ValueError("server_url must be an amqp:// or amqps:// URL with a host.")
    # pika reads connection options from the query, some of them (ssl_options) naming files
    # on this server: none are accepted.
    if parts.query or parts.fragment:
        raise ValueError("server_url takes no query parameters.")
    _ = parts.port  # raises ValueError on a malformed port
    return pika.URLParameters(server_url)


def server_url_masked(server_url: str) -> str:
    """The URL with its password replaced by ``****``: what the API shows."""
    parts = urlsplit(server_url)
    if parts.password is None:
        return server_url
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{parts.username or ''}:{PASSWORD_MASK}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _connect(server_url: str, *, timeout: float, allow_private: bool) -> pika.BlockingConnection:
    parameters = server_url_parameters(server_url)
    host = parameters.host
    if parameters.ssl_options is not None:
        # The socket goes to the vetted address; certificate and SNI stay the URL's name.
        parameters.ssl_options = pika.SSLOptions(ssl.create_default_context(), host)
    parameters.socket_timeout = timeout
    parameters.stack_timeout = timeout
    parameters.blocked_connection_timeout = timeout
    parameters.connection_attempts = 1
    last_error: Exception | None = None
    for address in resolve(host, parameters.port, allow_private=allow_private):
        parameters.host = address
        try:
            return pika.BlockingConnection(parameters)
        except pika.exceptions.AMQPConnectionError as exc:
            last_error = exc
    assert last_error is not None  # resolve() never returns an empty list
    raise last_error


def amqp_publish(
    *,
    server_url: str,
    exchange: str,
    messages: list[AmqpMessage],
    timeout: float,
    allow_private: bool,
) -> list[str]:
    """Publishes ``messages`` in order on one connection. Returns, per message, "" when the
    broker confirmed it, or why it was not confirmed. Never raises for broker faults."""
    try:
        connection = _connect(server_url, timeout=timeout, allow_private=allow_private)
    except DeliveryRefused as exc:
        return [str(exc)] * len(messages)
    except (pika.exceptions.AMQPError, OSError, ValueError) as exc:
        return [f"cannot connect to RabbitMQ: {type(exc).__name__} {exc}".strip()] * len(messages)
    results: list[str] = []
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        for message in messages:
            properties = pika.BasicProperties(
                content_type="application/json",
                delivery_mode=pika.DeliveryMode.Persistent,
                message_id=message.message_id,
                type=message.routing_key,
                timestamp=message.timestamp,
                app_id="deck",
            )
            try:
                channel.basic_publish(exchange, message.routing_key, message.body, properties)
            except pika.exceptions.NackError:
                results.append("RabbitMQ refused the message (nack).")
            else:
                results.append("")
    except pika.exceptions.AMQPError as exc:
        # A closed channel (no such exchange, access refused) or a lost connection: the
        # messages not yet confirmed are tried again later.
        reason = _amqp_reason(exc)
        results += [reason] * (len(messages) - len(results))
    finally:
        with contextlib.suppress(pika.exceptions.AMQPError, OSError):
            connection.close()
    return results


def _amqp_reason(exc: pika.exceptions.AMQPError) -> str:
    if isinstance(exc, pika.exceptions.ChannelClosedByBroker):
        return f"RabbitMQ closed the channel: {exc.reply_code} {exc.reply_text}"
    return f"RabbitMQ error: {type(exc).__name__} {exc}".strip()
