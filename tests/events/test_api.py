"""The events and event-destinations API: shapes, validation, secrets, ownership."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from deck.events.models import Event, EventDelivery, EventDestination
from deck.events.services import event_record
from deck.vault.models import VaultToken
from tests.api.test_resources import database_dump

pytestmark = pytest.mark.django_db

HOOK_URL = "https://hooks.example.com/deck"
RABBIT_URL = "amqp://deck:s3cret-amqp-pass@rabbit.example.com:5672/deck"


def create_webhook(api, **fields):
    body = {"type": "webhook", "url": HOOK_URL, "events": ["*"], **fields}
    response = api.post("/v2/event-destinations", body)
    assert response.status_code == 201, response.json()
    return response.json()


def create_rabbitmq(api, **fields):
    body = {
        "type": "rabbitmq",
        "server_url": RABBIT_URL,
        "exchange": "deck.events",
        "events": ["task_run.completed"],
        **fields,
    }
    response = api.post("/v2/event-destinations", body)
    assert response.status_code == 201, response.json()
    return response.json()


def test_webhook_secret_is_shown_at_creation_only(api):
    created = create_webhook(api, custom_headers={"Authorization": "Bearer hdr-token-123"})
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert created["id"].startswith("evtd_")
    assert created["object"] == "event_destination"
    assert (created["type"], created["status"], created["status_reason"]) == (
        "webhook",
        "active",
        None,
    )
    assert created["url"] == HOOK_URL
    assert created["events"] == ["*"]
    assert created["custom_headers"] == {"Authorization": "[redacted]"}
    assert "server_url" not in created
    fetched = api.get(f"/v2/event-destinations/{created['id']}").json()
    listed = api.get("/v2/event-destinations").json()["data"]
    for shown in (fetched, *listed):
        assert "secret" not in shown
        assert secret not in json.dumps(shown)
        assert "hdr-token-123" not in json.dumps(shown)
    dump = database_dump()
    assert secret not in dump
    assert secret.removeprefix("whsec_") not in dump
    assert "hdr-token-123" not in dump
    destination = EventDestination.objects.get(pk=created["id"])
    assert VaultToken.objects.filter(pk=destination.secret_token).exists()


def test_rabbitmq_server_url_is_masked_and_kept_in_the_vault(api):
    created = create_rabbitmq(api)
    assert created["server_url"] == "amqp://deck:****@rabbit.example.com:5672/deck"
    assert created["exchange"] == "deck.events"
    assert "secret" not in created
    assert "url" not in created
    assert (
        api.get(f"/v2/event-destinations/{created['id']}").json()["server_url"]
        == (created["server_url"])
    )
    assert "s3cret-amqp-pass" not in database_dump()


def test_rotate_secret_returns_the_new_secret_once(api):
    created = create_webhook(api)
    rotated = api.post(f"/v2/event-destinations/{created['id']}/rotate-secret")
    assert rotated.status_code == 200
    new_secret = rotated.json()["secret"]
    assert new_secret.startswith("whsec_")
    assert new_secret != created["secret"]
    destination = EventDestination.objects.get(pk=created["id"])
    assert destination.previous_secret_token
    overlap = destination.previous_secret_expires_at - timezone.now()
    assert timedelta(hours=23, minutes=59) < overlap <= timedelta(hours=24)
    assert "secret" not in api.get(f"/v2/event-destinations/{created['id']}").json()
    # A second rotation forgets the oldest secret.
    oldest = destination.previous_secret_token
    api.post(f"/v2/event-destinations/{created['id']}/rotate-secret")
    assert not VaultToken.objects.filter(pk=oldest).exists()
    assert new_secret not in database_dump()
    rabbit = create_rabbitmq(api)
    conflict = api.post(f"/v2/event-destinations/{rabbit['id']}/rotate-secret")
    assert conflict.status_code == 409


def test_update_and_reactivation_emit_events(api, org):
    created = create_webhook(api)
    path = f"/v2/event-destinations/{created['id']}"
    updated = api.patch(
        path,
        {"events": ["task.created", "task_run.failed"], "custom_headers": {"X-Env": "prod"}},
    ).json()
    assert updated["events"] == ["task.created", "task_run.failed"]
    assert updated["custom_headers"] == {"X-Env": "[redacted]"}
    off = api.patch(path, {"status": "inactive"}).json()
    assert (off["status"], off["status_reason"]) == ("inactive", "manual")
    assert api.patch(path, {"status": "inactive"}).status_code == 200  # no second event
    on = api.patch(path, {"status": "active"}).json()
    assert (on["status"], on["status_reason"]) == ("active", None)
    types = list(
        Event.objects.filter(organization=org, type__startswith="event_destination.")
        .order_by("created_at")
        .values_list("type", flat=True)
    )
    assert types == ["event_destination.deactivated", "event_destination.activated"]
    data = Event.objects.get(type="event_destination.activated").data
    assert data["id"] == created["id"]
    assert "secret" not in data
    assert api.get("/v2/event-destinations?status=inactive").json()["data"] == []


def test_delete_destroys_the_vault_tokens(api):
    created = create_webhook(api, custom_headers={"X-Key": "value-1"})
    tokens = EventDestination.objects.get(pk=created["id"]).vault_token_ids()
    assert len(tokens) == 2
    response = api.delete(f"/v2/event-destinations/{created['id']}")
    assert response.json() == {
        "id": created["id"],
        "object": "event_destination",
        "deleted": True,
        "request_id": response.json()["request_id"],
    }
    assert not VaultToken.objects.filter(pk__in=tokens).exists()
    assert api.get(f"/v2/event-destinations/{created['id']}").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://hooks.example.com/x"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "https://user:pass@hooks.example.com/"}, "url"),
        ({"url": None}, "url"),
        ({"url": "https://bücher.example/hook"}, "url"),
        ({"url": "https://hooks.example.com:99999/"}, "url"),
        ({"events": ["task.created", "task.exploded"]}, "events[1]"),
        ({"events": ["*", "task.created"]}, "events"),
        ({"events": []}, "events"),
        ({"events": ["event_destination.test"]}, "events[0]"),
        ({"custom_headers": {"Bad Header": "x"}}, "custom_headers.Bad Header"),
        ({"custom_headers": {"Connection": "close"}}, "custom_headers.Connection"),
        ({"custom_headers": {"Transfer-Encoding": "chunked"}}, "custom_headers.Transfer-Encoding"),
        ({"custom_headers": {"webhook-signature": "v1,x"}}, "custom_headers.webhook-signature"),
        ({"custom_headers": {"X-Ok": "line\r\nInjected: 1"}}, "custom_headers.X-Ok"),
        ({"server_url": RABBIT_URL}, "server_url"),
        ({"type": "sqs"}, "type"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_bad_webhook_input_is_400_with_the_field(api, body, field):
    response = api.post(
        "/v2/event-destinations",
        {"type": "webhook", "url": HOOK_URL, "events": ["*"], **body},
    )
    assert response.status_code == 400, response.json()
    error = response.json()["errors"][0]
    assert (error["type"], error["code"], error["field"]) == ("request", "input_invalid", field)
    assert not EventDestination.objects.exists()
    assert not VaultToken.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"server_url": "http://rabbit.example.com"}, "server_url"),
        ({"server_url": "amqp://"}, "server_url"),
        ({"server_url": "amqps://u:p@rabbit.example.com/?ssl_options=%7B%7D"}, "server_url"),
        ({"server_url": "amqp://u:p@rabbit.example.com:99999/"}, "server_url"),
        ({"server_url": None}, "server_url"),
        ({"exchange": None}, "exchange"),
        ({"exchange": "has spaces"}, "exchange"),
        ({"url": HOOK_URL}, "url"),
    ],
)
def test_bad_rabbitmq_input_is_400_with_the_field(api, body, field):
    response = api.post(
        "/v2/event-destinations",
        {
            "type": "rabbitmq",
            "server_url": RABBIT_URL,
            "exchange": "deck.events",
            "events": ["*"],
            **body,
        },
    )
    assert response.status_code == 400, response.json()
    assert response.json()["errors"][0]["field"] == field


def test_bad_update_is_400_and_changes_nothing(api):
    created = create_webhook(api)
    path = f"/v2/event-destinations/{created['id']}"
    for body, field in (
        ({"events": ["*", "task.created"]}, "events"),
        ({"url": "gopher://x"}, "url"),
        ({"exchange": "x"}, "exchange"),
        ({"custom_headers": {"Host": "evil"}}, "custom_headers.Host"),
        ({"status": "paused"}, "status"),
    ):
        response = api.patch(path, body)
        assert response.status_code == 400, body
        assert response.json()["errors"][0]["field"] == field
    assert api.get(path).json()["events"] == ["*"]


def test_private_addresses_are_refused_at_creation_when_not_allowed(api, settings):
    settings.DECK_DESTINATIONS_ALLOW_PRIVATE = False
    for url in ("http://127.0.0.1:8080/hook", "http://localhost/hook", "http://[::1]/x"):
        response = api.post(
            "/v2/event-destinations", {"type": "webhook", "url": url, "events": ["*"]}
        )
        assert response.status_code == 400
        assert response.json()["errors"][0]["field"] == "url"
    response = api.post(
        "/v2/event-destinations",
        {
            "type": "rabbitmq",
            "server_url": "amqp://guest:guest@169.254.169.254/",
            "exchange": "x",
            "events": ["*"],
        },
    )
    assert response.json()["errors"][0]["field"] == "server_url"


def test_events_list_filters_and_pages(api, org, other_org):
    first = event_record(organization_id=org.id, type="task.created", data={"id": "task_1"})
    second = event_record(organization_id=org.id, type="task_run.failed", data={"id": "trun_1"})
    event_record(organization_id=other_org.id, type="task.created", data={"id": "task_x"})
    Event.objects.filter(pk=first.pk).update(created_at=timezone.now() - timedelta(hours=2))
    listed = api.get("/v2/events").json()
    assert [e["id"] for e in listed["data"]] == [second.id, first.id]
    assert listed["data"][0] == {
        "id": second.id,
        "object": "event",
        "type": "task_run.failed",
        "data": {"id": "trun_1"},
        "created_at": listed["data"][0]["created_at"],
    }
    by_type = api.get("/v2/events?type[]=task.created&type[]=task.deleted").json()["data"]
    assert [e["id"] for e in by_type] == [first.id]
    cutoff = (timezone.now() - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    recent = api.get(f"/v2/events?created_after={cutoff}").json()["data"]
    assert [e["id"] for e in recent] == [second.id]
    older = api.get(f"/v2/events?created_before={cutoff}").json()["data"]
    assert [e["id"] for e in older] == [first.id]
    page = api.get("/v2/events?limit=1").json()
    assert page["has_more"] is True
    rest = api.get(f"/v2/events?limit=1&cursor={page['next_cursor']}").json()
    assert [e["id"] for e in rest["data"]] == [first.id]
    assert api.get(f"/v2/events/{first.id}").json()["type"] == "task.created"
    bad = api.get("/v2/events?type[]=task.exploded")
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "type[0]"


def test_another_organization_gets_404_everywhere(org, api, stranger_api):
    destination = create_webhook(api)
    event = event_record(organization_id=org.id, type="task.created", data={"id": "task_1"})
    delivery = EventDelivery.objects.create(
        organization=org, event=event, destination_id=destination["id"], status="failed"
    )
    base = f"/v2/event-destinations/{destination['id']}"
    requests = [
        ("get", f"/v2/events/{event.id}", None, "event_not_found"),
        ("get", base, None, "event_destination_not_found"),
        ("patch", base, {"status": "inactive"}, "event_destination_not_found"),
        ("delete", base, None, "event_destination_not_found"),
        ("post", f"{base}/rotate-secret", {}, "event_destination_not_found"),
        ("post", f"{base}/test", {}, "event_destination_not_found"),
        ("post", f"{base}/redeliver", {"since": "2020-01-01T00:00:00Z"}, None),
        ("get", f"{base}/event-deliveries", None, "event_destination_not_found"),
        ("get", f"{base}/event-deliveries/{delivery.id}", None, "event_destination_not_found"),
        ("post", f"{base}/event-deliveries/{delivery.id}/redeliver", {}, None),
    ]
    for method, path, body, code in requests:
        response = (
            getattr(stranger_api, method)(path, body)
            if body is not None
            else (getattr(stranger_api, method)(path))
        )
        assert response.status_code == 404, (method, path)
        assert response.json()["errors"][0]["code"] == (code or "event_destination_not_found")
    assert stranger_api.get("/v2/events").json()["data"] == []
    assert stranger_api.get("/v2/event-destinations").json()["data"] == []
    # Nothing changed for the owner.
    owned = EventDestination.objects.get(pk=destination["id"])
    assert owned.status == "active"
    assert EventDelivery.objects.get(pk=delivery.pk).status == "failed"
    assert not Event.objects.filter(type="event_destination.test").exists()
    # A delivery id under another of the owner's destinations is not found either.
    other = create_webhook(api)
    response = api.get(f"/v2/event-destinations/{other['id']}/event-deliveries/{delivery.id}")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "event_delivery_not_found"
