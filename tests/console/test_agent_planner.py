"""The console's agent form: planner, model endpoint and a write-only model API key."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from deck.vault.models import VaultToken
from tasks.models import Agent
from tests.api.factories import make_agent
from tests.api.test_resources import database_dump

HX = {"HX-Request": "true"}
KEY = "sk-console-key-0123456789"
LLM_FIELDS = {
    "name": "Model agent",
    "planner": "llm",
    "llm_base_url": "https://models.example/v1",
    "llm_model": "tiny-model",
    "llm_api_key": KEY,
}


def test_create_an_llm_agent(member: Client, org) -> None:
    response = member.post(reverse("console:agents_create"), LLM_FIELDS)
    assert response.status_code == 302
    agent = Agent.objects.get(organization=org)
    assert (agent.planner, agent.llm_base_url, agent.llm_model) == (
        "llm",
        "https://models.example/v1",
        "tiny-model",
    )
    assert VaultToken.objects.get(pk=agent.llm_api_key_token).purpose == "agent.llm_api_key"
    assert KEY not in database_dump()
    listed = member.get(reverse("console:agents")).content.decode()
    assert 'Language model <span class="muted small">(tiny-model)</span>' in listed
    page = member.get(response["Location"]).content.decode()
    assert "tiny-model" in page
    assert "stored in the vault" in page
    assert KEY not in page


def test_llm_agent_errors_land_on_their_fields(member: Client, org) -> None:
    for headers in ({}, HX):
        response = member.post(
            reverse("console:agents_create"),
            {**LLM_FIELDS, "llm_base_url": "ftp://nope"},
            headers=headers,
        )
        assert response.status_code == 200
        content = response.content.decode()
        assert "llm_base_url must be an http or https URL" in content
        assert 'id="id_llm_base_url_error"' in content
        assert KEY not in content  # the typed key is not echoed back
    assert not Agent.objects.filter(organization=org).exists()


def test_edit_keeps_replaces_or_removes_the_key(member: Client, org) -> None:
    member.post(reverse("console:agents_create"), LLM_FIELDS)
    agent = Agent.objects.get(organization=org)
    first = agent.llm_api_key_token
    edit = member.get(reverse("console:agents_edit", args=[agent.id])).content.decode()
    assert "A key is stored" in edit
    assert KEY not in edit
    update = reverse("console:agents_update", args=[agent.id])

    kept = member.post(update, {**LLM_FIELDS, "name": "Renamed", "llm_api_key": ""})
    assert kept.status_code == 302
    agent.refresh_from_db()
    assert (agent.name, agent.llm_api_key_token) == ("Renamed", first)

    member.post(update, {**LLM_FIELDS, "llm_api_key": "sk-another-key-987"}, headers=HX)
    agent.refresh_from_db()
    assert agent.llm_api_key_token not in ("", first)
    assert not VaultToken.objects.filter(pk=first).exists()

    member.post(update, {**LLM_FIELDS, "llm_api_key": "", "remove_llm_api_key": "on"})
    agent.refresh_from_db()
    assert agent.llm_api_key_token == ""
    assert not VaultToken.objects.filter(purpose="agent.llm_api_key").exists()


def test_back_to_heuristic(member: Client, org) -> None:
    agent = make_agent(org)
    response = member.post(
        reverse("console:agents_update", args=[agent.id]),
        {"name": agent.name, "planner": "heuristic"},
        headers=HX,
    )
    assert response["HX-Redirect"] == reverse("console:agents_detail", args=[agent.id])
    agent.refresh_from_db()
    assert agent.planner == "heuristic"
