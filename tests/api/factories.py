from __future__ import annotations

from typing import Any

from deck.models import Organization
from tasks import services
from tasks.models import Agent, Credential, Source, Task


def make_agent(organization: Organization, name: str = "Billing agent") -> Agent:
    return services.agent_create(organization=organization, name=name)


def make_source(organization: Organization, name: str = "EnergyLink") -> Source:
    return services.source_create(
        organization=organization, name=name, url="https://energylink.example/login"
    )


def make_credential(
    organization: Organization, source: Source | None = None, **extra: Any
) -> Credential:
    return services.credential_create(
        organization=organization,
        source_id=(source or make_source(organization)).id,
        auth_method="username_password",
        auth_credentials={"username": "jordan", "password": "hunter2-secret", **extra},
    )


def make_task(organization: Organization, agent: Agent | None = None, **fields: Any) -> Task:
    return services.task_create(
        organization=organization,
        agent_id=(agent or make_agent(organization)).id,
        name=fields.pop("name", "Fetch my latest bill"),
        prompt=fields.pop("prompt", "Log in to the source and fetch my latest bill."),
        input_schema=fields.pop(
            "input_schema",
            {"type": "object", "properties": {"start_date": {"type": "string", "format": "date"}}},
        ),
        output_schema=fields.pop(
            "output_schema", {"type": "object", "properties": {"amount_due": {"type": "number"}}}
        ),
        **fields,
    )
