"""Writes of the sandbox portals: layout switches, payments, cancellations."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import IntegrityError, transaction

from deck.errors import InvalidInput
from deck.models import Organization
from tasks.models import Agent, Credential, Source, Task
from tasks.sandbox.accounts import SandboxLogin, ServiceAccount, sandbox_logins, sandbox_portals
from tasks.sandbox.catalog import catalog_templates
from tasks.sandbox.models import Cancellation, Payment, PortalLayout
from tasks.services import (
    agent_create,
    credential_create,
    source_create,
    source_update,
    task_create,
)

CONFIRMATION_PREFIX = {"brightwater": "BW", "cascade": "CPG"}
DEMO_AGENT_NAME = "Demo agent"


def sandbox_layout_set(*, slug: str, layout: str) -> PortalLayout:
    """Idempotent upsert of a portal's layout."""
    if slug not in {portal.slug for portal in sandbox_portals()}:
        raise InvalidInput(f"No sandbox portal {slug!r}.", field="slug")
    if layout not in PortalLayout.Layout.values:
        raise InvalidInput(
            f"layout must be one of {', '.join(PortalLayout.Layout.values)}.", field="layout"
        )
    row, _ = PortalLayout.objects.update_or_create(portal=slug, defaults={"layout": layout})
    return row


def _number(prefix: str) -> str:
    return f"{prefix}-{secrets.randbelow(10**9):09d}"


def sandbox_payment_create(
    *,
    portal: str,
    login: SandboxLogin,
    account: ServiceAccount,
    amount: Decimal,
    payment_date: date,
    method: str,
    last4: str,
) -> Payment:
    """One row per submitted payment, with a fresh confirmation number."""
    if amount <= 0:
        raise InvalidInput("The payment amount must be more than zero.", field="amount")
    return Payment.objects.create(
        portal=portal,
        username=login.username,
        account_number=account.number,
        amount=amount,
        payment_date=payment_date,
        method=method,
        last4=last4,
        confirmation_number=_number(CONFIRMATION_PREFIX[portal]),
    )


def sandbox_reservation_cancel(*, login: SandboxLogin, reservation_number: str) -> Cancellation:
    """Idempotent: cancelling a cancelled reservation returns its first cancellation."""
    existing = Cancellation.objects.filter(
        portal="harbor", username=login.username, reservation_number=reservation_number
    ).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return Cancellation.objects.create(
                portal="harbor",
                username=login.username,
                reservation_number=reservation_number,
                cancellation_number=_number("HXC"),
            )
    except IntegrityError:
        # Two clicks raced; the other one's row stands.
        return Cancellation.objects.get(
            portal="harbor", username=login.username, reservation_number=reservation_number
        )


@dataclass(frozen=True)
class DemoLoad:
    sources: list[Source]
    credentials: list[Credential]
    agent: Agent
    tasks: list[Task]
    created: int


def sandbox_demo_ensure(*, organization: Organization, public_url: str) -> DemoLoad:
    """Idempotent: one source per portal (its URL kept in step with ``public_url``), a
    credential per demo login (secrets through the vault), the demo agent and the catalog
    tasks. Atomic, so a half-loaded demo never stays behind."""
    created = 0
    sources: list[Source] = []
    credentials: list[Credential] = []
    with transaction.atomic():
        for portal in sandbox_portals():
            url = f"{public_url.rstrip('/')}/sandbox/{portal.slug}/"
            source = Source.objects.filter(organization=organization, name=portal.name).first()
            if source is None:
                source = source_create(organization=organization, name=portal.name, url=url)
                created += 1
            elif source.url != url:
                source = source_update(organization=organization, source_id=source.id, url=url)
            sources.append(source)
            for login in sandbox_logins(portal.slug):
                credential = Credential.objects.filter(
                    organization=organization, source=source, username=login.username
                ).first()
                if credential is None:
                    credential = credential_create(
                        organization=organization,
                        source_id=source.id,
                        auth_method=Credential.AuthMethod.USERNAME_PASSWORD,
                        auth_credentials=login.auth_credentials(),
                        external_id=f"sandbox-{portal.slug}-{login.username}",
                    )
                    created += 1
                credentials.append(credential)
        agent = Agent.objects.filter(organization=organization, name=DEMO_AGENT_NAME).first()
        if agent is None:
            agent = agent_create(
                organization=organization,
                name=DEMO_AGENT_NAME,
                description="Runs the demo tasks on the sandbox portals.",
            )
            created += 1
        tasks = []
        for template in catalog_templates():
            task = Task.objects.filter(
                organization=organization, agent=agent, name=template.name
            ).first()
            if task is None:
                task = task_create(
                    organization=organization, agent_id=agent.id, **template.task_fields()
                )
                created += 1
            tasks.append(task)
    return DemoLoad(
        sources=sources, credentials=credentials, agent=agent, tasks=tasks, created=created
    )
