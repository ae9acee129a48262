"""Webhook delivery end to end: a real HTTP receiver on loopback, the outbox played in
process (``pump`` is what the beat job runs), signatures checked with the reference
``standardwebhooks`` package."""

from __future__ import annotations

import json
import socket
from datetime import timedelta

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from deck.events.delivery import deliveries_send_due, delivery_lease
from deck.events.errors import DeliveryRefused
from deck.events.jobs import deliver_events, prune_events
from deck.events.models import Event, EventDelivery, EventDestination
from deck.events.network import address_is_public, resolve
from deck.events.services import (
    MAX_ATTEMPTS,
    RETRY_SCHEDULE,
    deliveries_claim,
    event_record,
    events_fan_out,
    retry_delay,
)
from tasks.execution import run_execute
from tests.api.factories import make_credential, make_task
from tests.api.test_resources import database_dump
from tests.events.conftest import Answer, pump

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def short_timeout(settings):
    settings.DECK_WEBHOOK_TIMEOUT_SECONDS = 0.5
    settings.DECK_DESTINATIONS_ALLOW_PRIVATE = True


def subscribe(api, url, events=("*",), **fields):
    response = api.post(
        "/v2/event-destinations",
        {"type": "webhook", "url": url, "events": list(events), **fields},
    )
    assert response.status_code == 201, response.json()
    return response.json()


def emit(org, type="task.created", **data):
    return event_record(organization_id=org.id, type=type, data={"id": "task_1", **data})


def deliveries(destination_id):
    return EventDelivery.objects.filter(destination_id=destination_id)


def verify(secret, request):
    return Webhook(secret).verify(request.body, request.headers)


def test_events_are_delivered_signed_with_the_event_as_body(org, api, receiver):
    destination = subscribe(api, receiver.url, custom_headers={"X-Tenant": "acme"})
    event = emit(org, name="Fetch bills")
    assert pump() == {"fanned_out": 1, "sent": 1}
    [request] = receiver.requests
    assert request.path == "/hooks"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-tenant"] == "acme"
    assert request.headers["webhook-id"] == event.id
    assert len(request.headers["webhook-signature"].split(" ")) == 1
    assert verify(destination["secret"], request)["id"] == event.id
    body = request.json()
    api_event = api.get(f"/v2/events/{event.id}").json()
    api_event.pop("request_id")
    assert body == api_event
    assert body["object"] == "event"
    delivery = deliveries(destination["id"]).get()
    assert delivery.status == "succeeded"
    assert delivery.attempts == 1
    assert delivery.response_status_code == 200
    assert delivery.response_body == "ok"
    assert delivery.response_latency_ms is not None
    assert delivery.delivered_at is not None
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 44).verify(request.body, request.headers)
    # Nothing left to do: a second pump sends nothing again.
    assert pump() == {"fanned_out": 0, "sent": 0}
    assert len(receiver.requests) == 1


def test_delivery_log_api(org, api, receiver):
    destination = subscribe(api, receiver.url)
    emit(org)
    emit(org, type="task_run.failed")
    pump()
    base = f"/v2/event-destinations/{destination['id']}/event-deliveries"
    listed = api.get(base).json()["data"]
    assert len(listed) == 2
    item = listed[0]
    assert item["id"].startswith("edlv_")
    assert item["object"] == "event_delivery"
    assert item["destination_id"] == destination["id"]
    assert (item["status"], item["attempts"], item["response_status_code"]) == (
        "succeeded",
        1,
        200,
    )
    assert item["response_body"] == "ok"
    assert item["error"] is None
    failed_only = api.get(f"{base}?status=failed").json()["data"]
    assert failed_only == []
    by_type = api.get(f"{base}?type=task_run.failed").json()["data"]
    assert [d["event_type"] for d in by_type] == ["task_run.failed"]
    assert api.get(f"{base}/{item['id']}").json()["id"] == item["id"]
    assert api.get(f"{base}?type=nope").status_code == 400
    assert api.get(f"{base}?status=nope").status_code == 400


def test_subscriptions_history_and_organizations(org, other_org, api, receiver):
    emit(org)  # before the destination existed: not delivered
    pump()
    only_failures = subscribe(api, receiver.url, events=["task_run.failed"])
    emit(org, type="task.created")
    failed = emit(org, type="task_run.failed")
    emit(other_org, type="task_run.failed")
    pump()
    assert [r.headers["webhook-id"] for r in receiver.requests] == [failed.id]
    assert deliveries(only_failures["id"]).count() == 1


def test_fan_out_is_idempotent(org, api, receiver):
    destination = subscribe(api, receiver.url)
    event = emit(org)
    assert events_fan_out() == 1
    Event.objects.filter(pk=event.pk).update(fanned_out_at=None)  # as if a worker died
    assert events_fan_out() == 1
    assert deliveries(destination["id"]).count() == 1
    assert events_fan_out() == 0


def test_receiver_down_then_up_delivers_everything(org, api, receiver):
    destination = subscribe(api, receiver.url)
    receiver.stop()
    events = [emit(org, n=n) for n in range(5)]
    pump()
    pending = deliveries(destination["id"])
    assert {d.status for d in pending} == {"pending"}
    assert all(d.error.startswith("Cannot connect") for d in pending)
    assert all(
        timedelta(seconds=3) < d.next_attempt_at - timezone.now() <= timedelta(seconds=5)
        for d in pending
    )
    assert pump() == {"fanned_out": 0, "sent": 0}  # not due yet
    receiver.start()
    pending.update(next_attempt_at=timezone.now())  # the retry falls due
    pump()
    assert {d.status for d in deliveries(destination["id"])} == {"succeeded"}
    assert {d.attempts for d in deliveries(destination["id"])} == {2}
    assert sorted(r.headers["webhook-id"] for r in receiver.requests) == sorted(
        e.id for e in events
    )
    for request in receiver.requests:
        verify(destination["secret"], request)


def test_a_dead_worker_delays_delivery_but_never_drops_it(org, api, receiver):
    destination = subscribe(api, receiver.url)
    emit(org)
    events_fan_out()
    claim = deliveries_claim(limit=10, lease=delivery_lease())
    assert len(claim.deliveries) == 1  # ... and the worker dies before sending
    assert deliveries_send_due() == 0  # held by the lease
    deliveries(destination["id"]).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    pump()
    delivery = deliveries(destination["id"]).get()
    assert (delivery.status, delivery.attempts) == ("succeeded", 2)
    assert len(receiver.requests) == 1


def test_the_celery_job_runs_the_outbox(org, api, receiver):
    subscribe(api, receiver.url)
    emit(org)
    assert deliver_events() == {"fanned_out": 1, "sent": 1}
    assert len(receiver.requests) == 1


def test_rotation_overlap_signs_with_both_secrets(org, api, receiver):
    destination = subscribe(api, receiver.url)
    old_secret = destination["secret"]
    new_secret = api.post(f"/v2/event-destinations/{destination['id']}/rotate-secret").json()[
        "secret"
    ]
    emit(org)
    pump()
    [request] = receiver.requests
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    verify(old_secret, request)
    verify(new_secret, request)
    # After the overlap only the new secret signs.
    EventDestination.objects.filter(pk=destination["id"]).update(
        previous_secret_expires_at=timezone.now() - timedelta(seconds=1)
    )
    emit(org)
    pump()
    latest = receiver.requests[-1]
    assert len(latest.headers["webhook-signature"].split(" ")) == 1
    verify(new_secret, latest)
    with pytest.raises(WebhookVerificationError):
        verify(old_secret, latest)
    assert prune_events()["secrets"] == 1
    assert EventDestination.objects.get(pk=destination["id"]).previous_secret_token == ""


def test_retry_after_is_honoured(org, api, receiver):
    destination = subscribe(api, receiver.url)
    receiver.answer = Answer(status=503, headers={"Retry-After": "120"}, body=b"busy")
    emit(org)
    pump()
    delivery = deliveries(destination["id"]).get()
    assert (delivery.status, delivery.response_status_code) == ("pending", 503)
    assert delivery.response_body == "busy"
    wait = delivery.next_attempt_at - timezone.now()
    assert timedelta(seconds=118) < wait <= timedelta(seconds=120)
    # An HTTP date works too.
    when = timezone.now() + timedelta(minutes=10)
    receiver.answer = Answer(
        status=429, headers={"Retry-After": when.strftime("%a, %d %b %Y %H:%M:%S GMT")}
    )
    deliveries(destination["id"]).update(next_attempt_at=timezone.now())
    pump()
    wait = deliveries(destination["id"]).get().next_attempt_at - timezone.now()
    assert timedelta(minutes=9) < wait <= timedelta(minutes=10)


def test_retry_schedule_backs_off_with_jitter():
    assert MAX_ATTEMPTS == 10
    total = sum(RETRY_SCHEDULE, timedelta())
    assert timedelta(hours=20) < total < timedelta(hours=24)
    for attempts, step in enumerate(RETRY_SCHEDULE, start=1):
        delays = {retry_delay(attempts=attempts) for _ in range(20)}
        assert all(step * 0.8 <= delay <= step for delay in delays)
        assert len(delays) > 1
    assert retry_delay(attempts=1, retry_after=600) == timedelta(seconds=600)
    assert retry_delay(attempts=1, retry_after=10**9) == timedelta(hours=24)


def test_redirects_are_not_followed(org, api, receiver):
    destination = subscribe(api, receiver.url)

    def answer(request):
        if request.path == "/hooks":
            return Answer(status=307, headers={"Location": "/elsewhere"}, body=b"")
        return Answer()

    receiver.answer = answer
    emit(org)
    pump()
    assert [r.path for r in receiver.requests] == ["/hooks"]
    delivery = deliveries(destination["id"]).get()
    assert (delivery.status, delivery.response_status_code) == ("pending", 307)
    assert "Redirects are not followed" in delivery.error


def test_no_answer_within_the_timeout_is_a_failed_attempt(org, api, receiver):
    destination = subscribe(api, receiver.url)
    receiver.answer = Answer(delay=2)
    emit(org)
    pump()
    delivery = deliveries(destination["id"]).get()
    assert delivery.status == "pending"
    assert delivery.error == "No answer within 0.5 s."
    assert delivery.response_latency_ms < 1500


def test_a_trickling_answer_is_cut_off_at_the_timeout(org, api, receiver):
    """The timeout bounds the whole exchange, not each read."""
    destination = subscribe(api, receiver.url)
    receiver.answer = Answer(body=b"x" * 30, trickle=0.1)
    emit(org)
    pump()
    delivery = deliveries(destination["id"]).get()
    assert (delivery.status, delivery.error) == ("pending", "No answer within 0.5 s.")
    assert delivery.response_latency_ms < 1500


def test_410_disables_the_destination_and_reactivation_resumes(org, api, receiver):
    destination = subscribe(api, receiver.url)
    receiver.answer = Answer(status=410, body=b"gone")
    emit(org)
    emit(org)
    pump()
    row = EventDestination.objects.get(pk=destination["id"])
    assert (row.status, row.status_reason) == ("inactive", "endpoint_gone")
    # Both were sent in one batch and both got the 410.
    assert list(deliveries(destination["id"]).values_list("status", flat=True)) == [
        "failed",
        "failed",
    ]
    deactivated = Event.objects.get(type="event_destination.deactivated")
    assert deactivated.data["id"] == destination["id"]
    assert deactivated.data["status_reason"] == "endpoint_gone"
    emit(org)  # while inactive: not delivered
    pump()
    sent = len(receiver.requests)
    assert deliveries(destination["id"]).count() == 2

    receiver.answer = Answer()
    path = f"/v2/event-destinations/{destination['id']}"
    assert api.patch(path, {"status": "active"}).json()["status"] == "active"
    assert Event.objects.filter(type="event_destination.activated").count() == 1
    since = (timezone.now() - timedelta(hours=1)).isoformat()
    redelivered = api.post(f"{path}/redeliver", {"since": since}).json()
    assert redelivered["redelivered"] == 2
    assert api.post(f"{path}/redeliver", {"since": since}).json()["redelivered"] == 0
    pump()
    assert set(deliveries(destination["id"]).values_list("status", flat=True)) == {"succeeded"}
    assert len(receiver.requests) > sent


def test_failing_past_the_schedule_deactivates(org, api, receiver):
    destination = subscribe(api, receiver.url)
    receiver.answer = Answer(status=500, body=b"boom")
    emit(org)
    events_fan_out()
    deliveries(destination["id"]).update(attempts=MAX_ATTEMPTS - 1)
    pump()
    delivery = deliveries(destination["id"]).get()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (
        "failed",
        MAX_ATTEMPTS,
        None,
    )
    row = EventDestination.objects.get(pk=destination["id"])
    assert (row.status, row.status_reason) == ("inactive", "too_many_failures")
    assert Event.objects.filter(type="event_destination.deactivated").count() == 1


def test_one_bad_event_does_not_deactivate_an_endpoint_that_takes_the_rest(org, api, receiver):
    destination = subscribe(api, receiver.url)
    bad = emit(org, poison=True)
    events_fan_out()
    deliveries(destination["id"]).update(attempts=MAX_ATTEMPTS - 1)
    receiver.answer = lambda request: Answer(status=500 if request.json()["id"] == bad.id else 200)
    emit(org)
    pump()
    assert deliveries(destination["id"]).get(event=bad).status == "failed"
    assert EventDestination.objects.get(pk=destination["id"]).status == "active"


def test_redeliver_one_delivery_and_conflicts(org, api, receiver):
    destination = subscribe(api, receiver.url)
    emit(org)
    pump()
    delivery = deliveries(destination["id"]).get()
    path = f"/v2/event-destinations/{destination['id']}/event-deliveries/{delivery.id}"
    again = api.post(f"{path}/redeliver").json()
    assert (again["status"], again["attempts"]) == ("pending", 0)
    assert api.post(f"{path}/redeliver").json()["status"] == "pending"  # idempotent
    pump()
    assert len(receiver.requests) == 2
    assert receiver.requests[0].headers["webhook-id"] == receiver.requests[1].headers["webhook-id"]
    EventDelivery.objects.filter(pk=delivery.pk).update(status="sending")
    assert api.post(f"{path}/redeliver").status_code == 409
    api.patch(f"/v2/event-destinations/{destination['id']}", {"status": "inactive"})
    assert api.post(f"{path}/redeliver").status_code == 409


def test_test_event_goes_to_that_destination_only(org, api, receiver):
    tested = subscribe(api, receiver.url)
    bystander = subscribe(api, receiver.url.replace("/hooks", "/other"))
    response = api.post(f"/v2/event-destinations/{tested['id']}/test")
    assert response.status_code == 202
    assert response.json()["event_type"] == "event_destination.test"
    assert response.json()["status"] == "pending"
    pump()
    [request] = receiver.requests
    assert request.path == "/hooks"
    body = verify(tested["secret"], request)
    assert body["type"] == "event_destination.test"
    assert body["data"]["id"] == tested["id"]
    assert not deliveries(bystander["id"]).exists()
    api.patch(f"/v2/event-destinations/{tested['id']}", {"status": "inactive"})
    assert api.post(f"/v2/event-destinations/{tested['id']}/test").status_code == 409


def test_ssrf_guard_refuses_private_addresses_at_connect_time(org, api, receiver, settings):
    destination = subscribe(api, receiver.url)  # created while private addresses were allowed
    settings.DECK_DESTINATIONS_ALLOW_PRIVATE = False
    emit(org)
    pump()
    assert receiver.requests == []
    delivery = deliveries(destination["id"]).get()
    assert delivery.status == "pending"
    assert "127.0.0.1" in delivery.error
    assert "refused" in delivery.error
    settings.DECK_DESTINATIONS_ALLOW_PRIVATE = True
    deliveries(destination["id"]).update(next_attempt_at=timezone.now())
    pump()
    assert deliveries(destination["id"]).get().status == "succeeded"
    assert len(receiver.requests) == 1


def test_ssrf_guard_checks_what_a_name_resolves_to(monkeypatch):
    """A public-looking name that resolves to the metadata service is refused."""
    real = socket.getaddrinfo

    def rebinding(host, *args, **kwargs):
        if host == "hooks.example.com":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", 80))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with pytest.raises(DeliveryRefused, match=r"169\.254\.169\.254"):
        resolve("hooks.example.com", 80, allow_private=False)
    assert resolve("hooks.example.com", 80, allow_private=True) == ["169.254.169.254"]


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("::1", False),
        ("fd00:ec2::254", False),
        ("fe80::1", False),
        ("::ffff:127.0.0.1", False),
        ("ff02::1", False),
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
    ],
)
def test_address_ranges(address, public):
    import ipaddress

    assert address_is_public(ipaddress.ip_address(address)) is public


def test_no_tokenized_value_in_any_payload(org, api, receiver, settings):
    settings.DECK_AGENT_PLANNER = "tests.tasks.planners.ScriptedPlanner"
    card, cvv = "4242424242424242", "987"
    subscribe(api, receiver.url)
    task = make_task(
        org,
        prompt="",
        input_schema={
            "type": "object",
            "properties": {"card_number": {"type": "string"}, "cvv": {"type": "string"}},
            "tokenized": ["card_number", "cvv"],
        },
        output_schema={"type": "object"},
    )
    credential = make_credential(org)
    run = api.post(
        f"/v2/tasks/{task.id}/run",
        {"credential_id": credential.id, "input": {"card_number": card, "cvv": cvv}},
    ).json()
    assert run_execute(run["id"]) == "finished"
    pump()
    types = [body["type"] for body in receiver.bodies()]
    assert "task_run.queued" in types
    assert "task_run.completed" in types
    for request in receiver.requests:
        assert card.encode() not in request.body
        assert b'"987"' not in request.body
    assert card not in json.dumps(list(EventDelivery.objects.values_list("response_body", "error")))
    assert card not in database_dump()


def test_retention_prunes_old_events_and_their_deliveries(org, api, receiver, settings):
    settings.DECK_EVENT_RETENTION_DAYS = 30
    subscribe(api, receiver.url)
    old, recent = emit(org), emit(org)
    pump()
    Event.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=31))
    assert prune_events()["events"] == 1
    assert list(Event.objects.values_list("pk", flat=True)) == [recent.pk]
    assert EventDelivery.objects.count() == 1


def test_deliveries_are_held_while_inactive_and_resume_on_reactivation(org, api, receiver):
    destination = subscribe(api, receiver.url)
    held = emit(org)
    events_fan_out()
    path = f"/v2/event-destinations/{destination['id']}"
    api.patch(path, {"status": "inactive"})
    pump()
    assert receiver.requests == []
    assert deliveries(destination["id"]).get().status == "pending"
    api.patch(path, {"status": "active"})
    pump()
    assert deliveries(destination["id"]).get(event=held).status == "succeeded"
    # The destination also hears of its own reactivation.
    assert sorted(body["type"] for body in receiver.bodies()) == [
        "event_destination.activated",
        "task.created",
    ]
