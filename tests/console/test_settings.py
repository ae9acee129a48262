"""The settings page: organization name (owners rename), members, limits and model defaults
without secrets."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from tasks.models import Agent
from tests.api.factories import make_agent

HX = {"HX-Request": "true"}


def test_settings_show_members_limits_and_model_defaults(
    member: Client, org, owner, teammate, stranger, settings
) -> None:
    settings.DECK_SESSION_LIMIT = 7
    settings.DECK_LLM_BASE_URL = "http://127.0.0.1:9/v1"
    settings.DECK_LLM_MODEL = "local-model"
    settings.DECK_LLM_API_KEY = "sk-very-secret-llm-key"
    agent = make_agent(org, "Planner agent")
    Agent.objects.filter(pk=agent.pk).update(planner="llm", llm_model="agent-model")
    response = member.get(reverse("console:settings"))
    content = response.content.decode()
    assert response.status_code == 200
    assert 'aria-current="page"' in content
    assert owner.username in content
    assert teammate.username in content
    assert stranger.username not in content
    assert "7 at a time" in content
    assert "local-model" in content
    assert "agent-model" in content
    assert "sk-very-secret-llm-key" not in content
    assert "Set (kept secret)" in content
    part = member.get(reverse("console:settings"), headers=HX).content.decode()
    assert part.lstrip().startswith('<form id="organization-form"')


def test_an_owner_renames_the_organization(member: Client, org) -> None:
    url = reverse("console:settings_rename")
    response = member.post(url, {"name": "Acme Power"}, headers=HX)
    assert response["HX-Redirect"] == reverse("console:settings")
    org.refresh_from_db()
    assert org.name == "Acme Power"
    slug = org.slug
    for headers in ({}, HX):
        response = member.post(url, {"name": ""}, headers=headers)
        assert "This field is required." in response.content.decode()
    org.refresh_from_db()
    assert (org.name, org.slug) == ("Acme Power", slug)


def test_a_member_who_is_not_an_owner_cannot_rename(client: Client, org, teammate) -> None:
    client.force_login(teammate)
    name = org.name
    page = client.get(reverse("console:settings")).content.decode()
    assert "Only an owner can rename" in page
    response = client.post(reverse("console:settings_rename"), {"name": "Hijacked"})
    assert "Only an owner of the organization can rename it." in response.content.decode()
    org.refresh_from_db()
    assert org.name == name


def test_settings_rename_only_touches_the_members_organization(
    client: Client, org, other_org, stranger
) -> None:
    client.force_login(stranger)
    client.post(reverse("console:settings_rename"), {"name": "Renamed by stranger"})
    org.refresh_from_db()
    other_org.refresh_from_db()
    assert org.name != "Renamed by stranger"
    assert other_org.name == "Renamed by stranger"  # the stranger owns their own organization
