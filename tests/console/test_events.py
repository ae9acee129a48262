from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from deck.events import services
from deck.events.models import Event, EventDelivery, EventDestination
from deck.models import Organization

SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]{20,}")
HX = {"HX-Request": "true"}
HOOK_URL = "https://hooks.example.test/deck"


def _webhook(organization: Organization, **kwargs) -> EventDestination:
    destination, _ = services.event_destination_create(
        organization=organization, type="webhook", events=["*"], url=HOOK_URL, **kwargs
    )
    return destination


def _delivery(
    destination: EventDestination, status: str = EventDelivery.Status.FAILED
) -> EventDelivery:
    event = services.event_record(
        organization_id=destination.organization_id,
        type="task.created",
        data={"id": "task_123", "name": "Pay the bill"},
    )
    return EventDelivery.objects.create(
        organization_id=destination.organization_id,
        event=event,
        destination=destination,
        status=status,
        attempts=10,
        response_status_code=500,
        response_latency_ms=42,
        response_body="upstream exploded",
    )


def _detail(destination: EventDestination) -> str:
    return reverse("console:events_destinations_detail", args=[destination.id])


# -- events -------------------------------------------------------------------------------


def test_events_page_lists_newest_first_and_filters(member: Client, org, other_org) -> None:
    first = services.event_record(organization_id=org.id, type="task.created", data={"n": 1})
    second = services.event_record(organization_id=org.id, type="task.deleted", data={"n": 2})
    Event.objects.filter(pk=first.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    theirs = services.event_record(organization_id=other_org.id, type="task.created", data={})

    content = member.get(reverse("console:events")).content.decode()
    assert "<html" in content
    assert content.index(second.id) < content.index(first.id)
    assert theirs.id not in content
    assert 'aria-current="page"' in content

    response = member.get(reverse("console:events"), {"type": "task.created"}, headers=HX)
    fragment = response.content.decode()
    assert fragment.lstrip().startswith('<div id="events-table"')
    assert "<html" not in fragment
    assert first.id in fragment
    assert second.id not in fragment
    assert "HX-Request" in response["Vary"]


def test_event_detail_shows_the_data(member: Client, org) -> None:
    event = services.event_record(
        organization_id=org.id, type="task.created", data={"name": "Pay the bill"}
    )
    content = member.get(reverse("console:events_detail", args=[event.id])).content.decode()
    assert "Pay the bill" in content
    assert "task.created" in content


# -- destinations -------------------------------------------------------------------------


def test_create_webhook_shows_the_secret_once(member: Client, org) -> None:
    response = member.post(
        reverse("console:events_destinations_create"),
        {
            "type": "webhook",
            "url": HOOK_URL,
            "events": ["task.created", "task_run.completed"],
            "header_name_0": "Authorization",
            "header_value_0": "Bearer very-secret-token",
        },
    )
    assert response.status_code == 200
    content = response.content.decode()
    secrets = set(SECRET.findall(content))
    assert len(secrets) == 1
    secret = secrets.pop()
    assert "it will not be shown again" in content

    destination = EventDestination.objects.get(organization=org)
    assert destination.events == ["task.created", "task_run.completed"]
    assert destination.custom_header_names == ["Authorization"]
    stored = [str(getattr(destination, field.attname)) for field in destination._meta.fields]
    assert not any(secret in value for value in stored)
    assert not any("very-secret-token" in value for value in stored)

    for page in (reverse("console:events_destinations"), _detail(destination)):
        shown = member.get(page).content.decode()
        assert secret not in shown
        assert not SECRET.search(shown)
        assert "very-secret-token" not in shown
        assert HOOK_URL in shown


def test_create_with_htmx_returns_the_panel(member: Client, org) -> None:
    response = member.post(
        reverse("console:events_destinations_create"),
        {"type": "webhook", "url": HOOK_URL, "all_events": "on"},
        headers=HX,
    )
    content = response.content.decode()
    assert content.lstrip().startswith('<div id="destinations-panel"')
    assert "<html" not in content
    assert len(set(SECRET.findall(content))) == 1
    assert EventDestination.objects.get(organization=org).events == ["*"]


def test_create_rabbitmq_has_no_secret(member: Client, org) -> None:
    response = member.post(
        reverse("console:events_destinations_create"),
        {
            "type": "rabbitmq",
            "server_url": "amqps://deck:hunter2@mq.example.test:5671/",
            "exchange": "deck.events",
            "all_events": "on",
        },
    )
    content = response.content.decode()
    assert not SECRET.search(content)
    assert "hunter2" not in content
    destination = EventDestination.objects.get(organization=org)
    assert destination.exchange == "deck.events"


def test_create_shows_form_and_service_errors(member: Client, org) -> None:
    url = reverse("console:events_destinations_create")
    missing = member.post(url, {"type": "webhook", "url": HOOK_URL}).content.decode()
    assert "Choose at least one event" in missing

    response = member.post(url, {"type": "webhook", "url": "ftp://nope", "all_events": "on"})
    assert response.status_code == 200
    assert "url must be an http or https URL." in response.content.decode()

    reserved = member.post(
        url,
        {
            "type": "webhook",
            "url": HOOK_URL,
            "all_events": "on",
            "header_name_0": "Content-Type",
            "header_value_0": "x",
        },
    ).content.decode()
    assert "cannot be overridden" in reserved
    assert not EventDestination.objects.filter(organization=org).exists()


def test_destinations_list_and_detail(member: Client, org, other_org) -> None:
    mine = _webhook(org)
    theirs = _webhook(other_org)
    content = member.get(reverse("console:events_destinations")).content.decode()
    assert mine.id in content
    assert theirs.id not in content
    assert 'data-status="active"' in content

    delivery = _delivery(mine)
    page = member.get(_detail(mine)).content.decode()
    assert "<html" in page
    assert "upstream exploded" in page
    assert "Pay the bill" in page  # the payload
    assert reverse("console:events_destinations_redeliver_one", args=[mine.id, delivery.id]) in page

    fragment = member.get(_detail(mine), {"status": "succeeded"}, headers=HX).content.decode()
    assert fragment.lstrip().startswith('<div id="deliveries-table"')
    assert "upstream exploded" not in fragment


def test_rotate_shows_the_new_secret_once(member: Client, org) -> None:
    destination = _webhook(org)
    old_token = destination.secret_token
    url = reverse("console:events_destinations_rotate", args=[destination.id])

    response = member.post(url)
    content = response.content.decode()
    assert "<html" in content
    secret = SECRET.findall(content)[0]
    destination.refresh_from_db()
    assert destination.previous_secret_token == old_token
    assert destination.secret_token != old_token

    fragment = member.post(url, headers=HX).content.decode()
    assert fragment.lstrip().startswith('<div id="destination-secret"')
    assert len(set(SECRET.findall(fragment))) == 1
    assert secret not in member.get(_detail(destination)).content.decode()


def test_deactivate_and_reactivate(member: Client, org) -> None:
    destination = _webhook(org)
    url = reverse("console:events_destinations_status", args=[destination.id])

    response = member.post(url, {"status": "inactive"})
    assert response.status_code == 302
    destination.refresh_from_db()
    assert destination.status == EventDestination.Status.INACTIVE

    response = member.post(url, {"status": "active"}, headers=HX)
    assert response["HX-Redirect"] == _detail(destination)
    destination.refresh_from_db()
    assert destination.status == EventDestination.Status.ACTIVE
    assert Event.objects.filter(organization=org, type="event_destination.activated").exists()
    assert "Destination reactivated." in member.get(_detail(destination)).content.decode()


def test_send_test_event_creates_a_delivery(member: Client, org) -> None:
    destination = _webhook(org)
    response = member.post(reverse("console:events_destinations_test", args=[destination.id]))
    assert response.status_code == 302
    delivery = EventDelivery.objects.get(destination=destination)
    assert delivery.event.type == "event_destination.test"
    assert delivery.status == EventDelivery.Status.PENDING


def test_test_event_on_inactive_destination_shows_the_error(member: Client, org) -> None:
    destination = _webhook(org, status="inactive")
    response = member.post(
        reverse("console:events_destinations_test", args=[destination.id]), follow=True
    )
    assert "activate it before testing it" in response.content.decode()
    assert not EventDelivery.objects.filter(destination=destination).exists()


def test_redeliver_one(member: Client, org) -> None:
    destination = _webhook(org)
    delivery = _delivery(destination)
    response = member.post(
        reverse("console:events_destinations_redeliver_one", args=[destination.id, delivery.id])
    )
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert delivery.status == EventDelivery.Status.PENDING
    assert delivery.attempts == 0


def test_redeliver_failed_since(member: Client, org) -> None:
    destination = _webhook(org)
    failed = _delivery(destination)
    url = reverse("console:events_destinations_redeliver", args=[destination.id])

    invalid = member.post(url, {"since": "not a time"}, headers=HX).content.decode()
    assert invalid.lstrip().startswith('<form id="redeliver-form"')
    assert "Enter a valid date/time." in invalid

    since = (timezone.localtime() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    response = member.post(url, {"since": since}, follow=True)
    assert "1 failed deliveries queued again." in response.content.decode()
    failed.refresh_from_db()
    assert failed.status == EventDelivery.Status.PENDING


def test_delete_asks_without_javascript(member: Client, org) -> None:
    destination = _webhook(org)
    url = reverse("console:events_destinations_delete", args=[destination.id])
    page = member.post(url)
    assert page.status_code == 200
    assert "Delete this destination?" in page.content.decode()
    assert EventDestination.objects.filter(pk=destination.pk).exists()

    response = member.post(url, {"confirm": "yes"})
    assert response.status_code == 302
    assert response["Location"] == reverse("console:events_destinations")
    assert not EventDestination.objects.filter(pk=destination.pk).exists()


# -- scoping ------------------------------------------------------------------------------


def _their_urls(other_org: Organization) -> tuple[list[str], list[str]]:
    destination = _webhook(other_org)
    delivery = _delivery(destination)
    ids = [destination.id]
    gets = [
        reverse("console:events_detail", args=[delivery.event_id]),
        reverse("console:events_destinations_detail", args=ids),
    ]
    posts = [
        reverse(f"console:events_destinations_{name}", args=ids)
        for name in ("rotate", "test", "status", "delete", "redeliver")
    ] + [reverse("console:events_destinations_redeliver_one", args=[destination.id, delivery.id])]
    return gets, posts


def test_another_organization_is_404(member: Client, org, other_org) -> None:
    gets, posts = _their_urls(other_org)
    for url in gets:
        assert member.get(url).status_code == 404, url
    data = {"confirm": "yes", "status": "inactive", "since": "2020-01-01T00:00"}
    for url in posts:
        assert member.post(url, data).status_code == 404, url
    destination = EventDestination.objects.get(organization=other_org)
    assert destination.status == EventDestination.Status.ACTIVE
    assert EventDelivery.objects.filter(destination=destination).count() == 1


def test_my_destination_with_their_delivery_is_404(member: Client, org, other_org) -> None:
    mine = _webhook(org)
    theirs = _delivery(_webhook(other_org))
    url = reverse("console:events_destinations_redeliver_one", args=[mine.id, theirs.id])
    assert member.post(url).status_code == 404


@pytest.mark.parametrize("name", ["events", "events_destinations", "events_destinations_create"])
def test_anonymous_is_sent_to_login(client: Client, org, name: str) -> None:
    url = reverse(f"console:{name}")
    response = client.post(url) if name.endswith("create") else client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("console:login"))


def test_anonymous_actions_are_sent_to_login(client: Client, org) -> None:
    gets, posts = _their_urls(org)
    for url in gets:
        assert client.get(url)["Location"].startswith(reverse("console:login")), url
    for url in posts:
        assert client.post(url)["Location"].startswith(reverse("console:login")), url


def test_destinations_list_is_paginated(member: Client, org, other_org) -> None:
    mine = [_webhook(org) for _ in range(27)]
    theirs = _webhook(other_org)
    url = reverse("console:events_destinations")
    first = member.get(url).content.decode()
    assert "Page 1 of 2" in first
    assert mine[-1].id in first  # newest first
    assert mine[0].id not in first
    assert theirs.id not in first
    second = member.get(url, {"page": 2}, headers={**HX, "HX-Target": "destinations-table"})
    content = second.content.decode()
    assert content.lstrip().startswith('<div id="destinations-table"')
    assert mine[0].id in content
    assert mine[-1].id not in content
    assert "destination-form" not in content
