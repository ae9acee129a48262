"""Drafting a task with the agent's language model: a scripted OpenAI-compatible server on
loopback stands in for the hosted model. The built-in drafter takes over when the model is
unreachable or its answer is not a valid definition."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from tasks import services
from tasks.drafting import task_draft
from tasks.models import Agent, Task
from tests.agent.llm_server import Reply, ScriptedLlm, scripted_llm, text

KEY = "sk-draft-model-key-123456"
JOB = "get my last three electricity bills with amount and due date"
MODEL_DRAFT: dict[str, Any] = {
    "name": "Latest electricity bills",
    "prompt": "Log in, open Billing, return the three newest bills.",
    "input_schema": {"type": "object", "properties": {"count": {"type": "integer"}}},
    "output_schema": {
        "type": "object",
        "properties": {
            "bills": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "amount": {"type": "number"},
                        "due_date": {"type": "string", "format": "date"},
                    },
                },
            }
        },
    },
    "storage": {"enabled": True, "extraction": False},
    "type": "read",
    "notes": ["Bills are under Billing on most utility portals."],
}


@pytest.fixture(scope="module")
def llm() -> Iterator[ScriptedLlm]:
    with scripted_llm() as server:
        yield server


@pytest.fixture(autouse=True)
def fresh(llm: ScriptedLlm) -> None:
    llm.reset()


@pytest.fixture
def llm_agent(org, llm: ScriptedLlm) -> Agent:
    return services.agent_create(
        organization=org,
        name="Model agent",
        planner="llm",
        llm_base_url=llm.base_url,
        llm_model="tiny-model",
        llm_api_key=KEY,
    )


def test_the_agents_model_drafts_the_task(
    member: Client, org, llm: ScriptedLlm, llm_agent: Agent
) -> None:
    llm.add(text("Here it is:\n```json\n" + json.dumps(MODEL_DRAFT) + "\n```"))
    response = member.post(reverse("console:tasks_draft"), {"description": JOB})
    content = response.content.decode()
    assert "Drafted by the agent&#x27;s model (tiny-model)" in content
    assert 'value="Latest electricity bills"' in content
    assert "Bills are under Billing" in content
    request = llm.requests[0]
    assert request["headers"]["Authorization"] == f"Bearer {KEY}"
    assert request["body"]["model"] == "tiny-model"
    assert request["body"]["messages"][-1] == {"role": "user", "content": JOB}
    assert KEY not in content
    assert not Task.objects.exists()  # a draft is never saved by itself


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        (Reply({"error": {"message": "down"}}, status=503), "The model could not draft"),
        (text("I cannot help with that."), "its draft was not usable"),
        (
            text(json.dumps({**MODEL_DRAFT, "input_schema": {"type": "array"}})),
            "input_schema must describe an object",
        ),
    ],
)
def test_the_built_in_drafter_takes_over(
    org, llm: ScriptedLlm, llm_agent: Agent, settings, reply: Reply, problem: str
) -> None:
    settings.DECK_LLM_MAX_RETRIES = 0
    llm.add(reply, reply, reply)
    draft = task_draft(organization=org, description=JOB, agent_id=llm_agent.id)
    assert draft.drafted_by == "built-in drafter"
    assert draft.name == "Fetch the last 3 electricity bills"
    assert problem in draft.notes[0]
    assert KEY not in " ".join(draft.notes)


def test_without_a_model_the_built_in_drafter_drafts(org, settings, llm: ScriptedLlm) -> None:
    settings.DECK_LLM_BASE_URL = ""
    agent = services.agent_create(organization=org, name="Plain agent")
    draft = task_draft(organization=org, description=JOB, agent_id=agent.id)
    assert draft.drafted_by == "built-in drafter"
    assert llm.requests == []


def test_the_deployments_model_drafts_for_an_agent_without_one(
    org, settings, llm: ScriptedLlm
) -> None:
    settings.DECK_LLM_BASE_URL = llm.base_url
    settings.DECK_LLM_MODEL = "deployment-model"
    settings.DECK_LLM_API_KEY = "sk-deployment-key-98765"
    agent = services.agent_create(organization=org, name="Plain agent")
    llm.add(text(json.dumps(MODEL_DRAFT)))
    draft = task_draft(organization=org, description=JOB, agent_id=agent.id)
    assert draft.drafted_by == "agent's model (deployment-model)"
    assert draft.storage["enabled"] is True
    assert draft.scope == "retrieve_documents"
    assert llm.requests[0]["headers"]["Authorization"] == "Bearer sk-deployment-key-98765"
