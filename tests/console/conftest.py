from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import Client

from deck.models import Organization
from tasks.models import Agent, Credential, Source, Task, TaskRun
from tasks.runs import run_create
from tests.api.factories import make_agent, make_credential, make_source, make_task

CARD = "4111222233334444"

PAYMENT_INPUT_SCHEMA = {
    "type": "object",
    "properties": {
        "card_number": {"type": "string", "description": "The card to pay with."},
        "start_date": {"type": "string", "format": "date"},
        "count": {"type": "integer", "minimum": 1},
        "amount": {"type": "number"},
        "urgent": {"type": "boolean"},
        "plan": {"type": "string", "enum": ["basic", "plus"]},
    },
    "required": ["card_number"],
    "tokenized": ["card_number"],
}


@pytest.fixture(autouse=True)
def fast_passwords(settings) -> None:
    # Console tests log users in a lot; the production hasher's cost buys nothing here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def scripted_planner(settings) -> None:
    settings.DECK_AGENT_PLANNER = "tests.tasks.planners.ScriptedPlanner"


@dataclass
class World:
    """One organization's agent, source, credential, task and run."""

    organization: Organization
    agent: Agent
    source: Source
    credential: Credential
    task: Task
    run: TaskRun


def make_world(organization: Organization, *, prompt: str = "login") -> World:
    agent = make_agent(organization)
    source = make_source(organization)
    credential = make_credential(organization, source)
    task = make_task(organization, agent, prompt=prompt, input_schema=PAYMENT_INPUT_SCHEMA)
    run = run_create(
        organization=organization,
        task_id=task.id,
        input={"card_number": CARD, "count": 2},
        credential_id=credential.id,
    )
    return World(organization, agent, source, credential, task, run)


@pytest.fixture
def world(org: Organization) -> World:
    return make_world(org)


@pytest.fixture
def their_world(other_org: Organization) -> World:
    return make_world(other_org)


@pytest.fixture
def member(client: Client, owner) -> Client:
    client.force_login(owner)
    return client
