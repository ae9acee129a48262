"""RabbitMQ destinations against the local broker, with a real consumer."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import pika
import pytest

from deck.events.models import EventDelivery
from deck.events.services import event_record
from tests.events.conftest import pump

pytestmark = pytest.mark.django_db


class Consumer:
    """A temporary exclusive queue bound to a throwaway topic exchange."""

    def __init__(self, url: str) -> None:
        self.exchange = f"deck.test.{uuid.uuid4().hex[:12]}"
        self.connection = pika.BlockingConnection(pika.URLParameters(url))
        self.channel = self.connection.channel()
        self.channel.exchange_declare(self.exchange, exchange_type="topic", auto_delete=True)
        declared = self.channel.queue_declare("", exclusive=True)
        self.queue = declared.method.queue
        self.channel.queue_bind(self.queue, self.exchange, routing_key="#")

    def take(self, count: int, timeout: float = 10) -> list[tuple[object, object, bytes]]:
        messages: list[tuple[object, object, bytes]] = []
        deadline = time.monotonic() + timeout
        while len(messages) < count and time.monotonic() < deadline:
            method, properties, body = self.channel.basic_get(self.queue, auto_ack=True)
            if method is None:
                time.sleep(0.05)
                continue
            messages.append((method, properties, body))
        return messages

    def close(self) -> None:
        self.channel.exchange_delete(self.exchange)
        self.connection.close()


@pytest.fixture
def consumer(rabbitmq) -> Iterator[Consumer]:
    consumer = Consumer(rabbitmq)
    yield consumer
    consumer.close()


def subscribe(api, server_url, exchange, events=("*",)):
    response = api.post(
        "/v2/event-destinations",
        {"type": "rabbitmq", "server_url": server_url, "exchange": exchange, "events": events},
    )
    assert response.status_code == 201, response.json()
    return response.json()


def test_events_are_published_persistent_with_the_type_as_routing_key(org, api, rabbitmq, consumer):
    destination = subscribe(api, rabbitmq, consumer.exchange)
    assert destination["server_url"] == "amqp://guest:****@127.0.0.1:5672/"
    events = [
        event_record(organization_id=org.id, type=event_type, data={"id": f"obj_{n}"})
        for n, event_type in enumerate(["task.created", "task_run.completed", "task.deleted"])
    ]
    pump()
    messages = consumer.take(3)
    assert len(messages) == 3
    by_id = {
        properties.message_id: (method, properties, body) for method, properties, body in messages
    }
    for event in events:
        method, properties, body = by_id[event.id]
        assert method.routing_key == event.type
        assert properties.delivery_mode == 2
        assert properties.content_type == "application/json"
        payload = json.loads(body)
        expected = api.get(f"/v2/events/{event.id}").json()
        expected.pop("request_id")
        assert payload == expected
    delivered = EventDelivery.objects.filter(destination_id=destination["id"])
    assert set(delivered.values_list("status", flat=True)) == {"succeeded"}


def test_a_missing_exchange_is_a_failed_attempt_retried_later(org, api, rabbitmq):
    destination = subscribe(api, rabbitmq, f"deck.missing.{uuid.uuid4().hex[:8]}")
    event_record(organization_id=org.id, type="task.created", data={"id": "task_1"})
    pump()
    delivery = EventDelivery.objects.get(destination_id=destination["id"])
    assert delivery.status == "pending"
    assert "NOT_FOUND" in delivery.error
    assert "guest:guest" not in delivery.error


def test_a_broker_that_is_not_there_is_a_failed_attempt(org, api, settings):
    settings.DECK_WEBHOOK_TIMEOUT_SECONDS = 0.5
    from tests.events.conftest import free_port

    destination = subscribe(api, f"amqp://guest:guest@127.0.0.1:{free_port()}/", "x")
    event_record(organization_id=org.id, type="task.created", data={"id": "task_1"})
    pump()
    delivery = EventDelivery.objects.get(destination_id=destination["id"])
    assert delivery.status == "pending"
    assert delivery.error.startswith("cannot connect to RabbitMQ")
