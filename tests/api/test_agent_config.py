"""How an agent explores: planner, model endpoint and a write-only model API key."""

from __future__ import annotations

import logging

import pytest

from deck.vault.models import VaultToken
from tasks.execution import _context
from tasks.models import Agent
from tasks.runs import run_create
from tests.api.factories import make_credential, make_task
from tests.api.test_resources import database_dump

pytestmark = pytest.mark.django_db

KEY = "sk-test-0123456789abcdefLLMKEY"
LLM_AGENT = {
    "name": "Model agent",
    "planner": "llm",
    "llm_base_url": "http://127.0.0.1:9999/v1/",
    "llm_model": "tiny-model",
    "llm_api_key": KEY,
}


def test_defaults_to_the_heuristic_planner(api):
    body = api.post("/v2/agents", {"name": "Plain"}).json()
    assert body["planner"] == "heuristic"
    assert (body["llm_base_url"], body["llm_model"], body["has_llm_api_key"]) == (
        None,
        None,
        False,
    )


def test_key_is_write_only_and_kept_in_the_vault(api, caplog):
    caplog.set_level(logging.DEBUG)
    response = api.post("/v2/agents", LLM_AGENT)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["planner"] == "llm"
    assert body["llm_base_url"] == "http://127.0.0.1:9999/v1"
    assert body["llm_model"] == "tiny-model"
    assert body["has_llm_api_key"] is True
    assert "llm_api_key" not in body
    for read in (api.get(f"/v2/agents/{body['id']}"), api.get("/v2/agents")):
        assert KEY not in read.content.decode()
    agent = Agent.objects.get(pk=body["id"])
    assert VaultToken.objects.get(pk=agent.llm_api_key_token).purpose == "agent.llm_api_key"
    assert KEY not in database_dump()
    assert KEY not in caplog.text


def test_replacing_and_removing_the_key(api):
    agent_id = api.post("/v2/agents", LLM_AGENT).json()["id"]
    first = Agent.objects.get(pk=agent_id).llm_api_key_token

    renamed = api.patch(f"/v2/agents/{agent_id}", {"name": "Renamed"}).json()
    assert renamed["has_llm_api_key"] is True
    assert Agent.objects.get(pk=agent_id).llm_api_key_token == first

    replaced = api.patch(f"/v2/agents/{agent_id}", {"llm_api_key": "sk-second-key-000"}).json()
    assert replaced["has_llm_api_key"] is True
    second = Agent.objects.get(pk=agent_id).llm_api_key_token
    assert second != first
    assert not VaultToken.objects.filter(pk=first).exists()

    removed = api.patch(f"/v2/agents/{agent_id}", {"llm_api_key": None}).json()
    assert removed["has_llm_api_key"] is False
    assert not VaultToken.objects.filter(pk=second).exists()


def test_a_new_endpoint_forgets_the_key_unless_given_again(api):
    agent_id = api.post("/v2/agents", LLM_AGENT).json()["id"]
    first = Agent.objects.get(pk=agent_id).llm_api_key_token
    same = api.patch(f"/v2/agents/{agent_id}", {"llm_base_url": LLM_AGENT["llm_base_url"]})
    assert same.json()["has_llm_api_key"] is True
    moved = api.patch(f"/v2/agents/{agent_id}", {"llm_base_url": "https://elsewhere.example/v1"})
    assert moved.json()["has_llm_api_key"] is False
    assert not VaultToken.objects.filter(pk=first).exists()
    both = api.patch(
        f"/v2/agents/{agent_id}",
        {"llm_base_url": "https://third.example/v1", "llm_api_key": "sk-for-the-third-one"},
    )
    assert both.json()["has_llm_api_key"] is True


def test_switching_planner_and_endpoint(api):
    agent_id = api.post("/v2/agents", {"name": "Plain"}).json()["id"]
    needs_url = api.patch(f"/v2/agents/{agent_id}", {"planner": "llm"})
    assert needs_url.status_code == 400
    assert needs_url.json()["errors"][0]["field"] == "llm_base_url"
    needs_model = api.patch(
        f"/v2/agents/{agent_id}", {"planner": "llm", "llm_base_url": "https://models.example/v1"}
    )
    assert needs_model.json()["errors"][0]["field"] == "llm_model"
    assert Agent.objects.get(pk=agent_id).planner == "heuristic"  # nothing half-saved
    ok = api.patch(
        f"/v2/agents/{agent_id}",
        {"planner": "llm", "llm_base_url": "https://models.example/v1", "llm_model": "m"},
    )
    assert ok.status_code == 200
    assert ok.json()["planner"] == "llm"


def test_deployment_settings_are_the_fallback(api, settings):
    settings.DECK_LLM_BASE_URL = "https://models.example/v1"
    settings.DECK_LLM_MODEL = "house-model"
    response = api.post("/v2/agents", {"name": "Model agent", "planner": "llm"})
    assert response.status_code == 201, response.json()
    assert response.json()["llm_base_url"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"planner": "gpt"}, "planner"),
        ({"llm_base_url": "ftp://models.example"}, "llm_base_url"),
        ({"llm_base_url": "not a url"}, "llm_base_url"),
        ({"llm_api_key": "k" * 2001}, "llm_api_key"),
    ],
)
def test_bad_agent_config_is_refused(api, body, field):
    response = api.post("/v2/agents", {"name": "Bad", **body})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field
    assert not Agent.objects.exists()


def test_another_organization_cannot_see_or_change_it(api, stranger_api):
    agent_id = api.post("/v2/agents", LLM_AGENT).json()["id"]
    assert stranger_api.get(f"/v2/agents/{agent_id}").status_code == 404
    changed = stranger_api.patch(f"/v2/agents/{agent_id}", {"llm_api_key": "sk-theirs-1234"})
    assert changed.status_code == 404
    assert changed.json()["errors"][0]["code"] == "agent_not_found"
    assert Agent.objects.get(pk=agent_id).llm_api_key_token


def test_deleting_the_agent_destroys_its_key(api):
    agent_id = api.post("/v2/agents", LLM_AGENT).json()["id"]
    token = Agent.objects.get(pk=agent_id).llm_api_key_token
    assert api.delete(f"/v2/agents/{agent_id}").status_code == 200
    assert not VaultToken.objects.filter(pk=token).exists()


# -- what the worker sees -----------------------------------------------------------------


def _llm_settings(org, agent):
    task = make_task(org, agent, input_schema={"type": "object"})
    run = run_create(
        organization=org, task_id=task.id, input={}, credential_id=make_credential(org).id
    )
    context = _context(run)
    return context, context.llm_settings()


def test_worker_reveals_the_agent_key_only_when_asked(org, api):
    agent = Agent.objects.get(pk=api.post("/v2/agents", LLM_AGENT).json()["id"])
    context, revealed = _llm_settings(org, agent)
    assert revealed == {
        "base_url": "http://127.0.0.1:9999/v1",
        "model": "tiny-model",
        "api_key": KEY,
    }
    assert context.agent_planner == "llm"
    assert KEY in context.secrets  # masked out of anything the run stores


def test_deployment_key_goes_only_to_the_deployment_endpoint(org, api, settings):
    settings.DECK_LLM_BASE_URL = "https://models.example/v1"
    settings.DECK_LLM_MODEL = "house-model"
    settings.DECK_LLM_API_KEY = "sk-deployment-key-42"
    house = Agent.objects.get(
        pk=api.post("/v2/agents", {"name": "H", "planner": "llm"}).json()["id"]
    )
    assert _llm_settings(org, house)[1] == {
        "base_url": "https://models.example/v1",
        "model": "house-model",
        "api_key": "sk-deployment-key-42",
    }
    elsewhere = {"name": "E", "planner": "llm", "llm_base_url": "https://other.example/v1"}
    own = Agent.objects.get(pk=api.post("/v2/agents", elsewhere).json()["id"])
    assert _llm_settings(org, own)[1] == {
        "base_url": "https://other.example/v1",
        "model": "house-model",
        "api_key": "",
    }
