from __future__ import annotations

import pytest
from django.core.management import call_command

from deck.models import Organization
from deck.vault.services import vault_reveal
from tasks import definitions
from tasks.models import Agent, Credential, Source, Task
from tasks.sandbox.accounts import LOGINS, sandbox_portals
from tasks.sandbox.catalog import catalog_for_source, catalog_template, catalog_templates
from tests.api.test_resources import database_dump


def test_catalog_templates_pass_the_task_definition_checks():
    slugs = {portal.slug for portal in sandbox_portals()}
    for template in catalog_templates():
        definitions.task_definition_check(
            input_schema=template.input_schema,
            output_schema=template.output_schema,
            storage=definitions.storage_normalize(template.storage),
            timeout_seconds=1800,
        )
        assert set(template.sources) <= slugs
    assert catalog_template("fetch_latest_bill").storage["enabled"] is True
    assert catalog_template("pay_bill").input_schema["tokenized"] == [
        "card_number",
        "card_cvv",
        "cardholder_name",
    ]
    assert [t.key for t in catalog_for_source("harbor")] == [
        "list_upcoming_reservations",
        "cancel_reservation",
    ]
    for slug in slugs:
        assert catalog_for_source(slug)


def _call(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_bootstrap_demo_loads_the_sandbox_idempotently(settings):
    settings.PUBLIC_URL = "http://127.0.0.1:8123"
    first = _call("bootstrap_demo")
    assert "Email: demo@deck.local" in first
    assert "Sandbox: 4 sources, 8 credentials, agent 'Demo agent', 5 tasks (" in first
    organization = Organization.objects.get(slug="demo")
    counts = (
        Source.objects.count(),
        Credential.objects.count(),
        Agent.objects.count(),
        Task.objects.count(),
    )
    assert counts == (4, len(LOGINS), 1, len(catalog_templates()))
    second = _call("bootstrap_demo")
    assert "(0 new)" in second
    assert (
        Source.objects.count(),
        Credential.objects.count(),
        Agent.objects.count(),
        Task.objects.count(),
    ) == counts

    brightwater = Source.objects.get(organization=organization, name="Brightwater Energy")
    assert brightwater.url == "http://127.0.0.1:8123/sandbox/brightwater/"
    agent = Agent.objects.get()
    assert agent.name == "Demo agent"
    assert agent.planner == Agent.Planner.HEURISTIC
    assert set(Task.objects.values_list("name", flat=True)) == {t.name for t in catalog_templates()}
    assert Task.objects.get(name="Fetch my latest bill").storage["enabled"] is True

    # Secrets went to the vault: they come back through it, and nowhere in the database.
    for login in LOGINS:
        credential = Credential.objects.get(organization=organization, username=login.username)
        assert (
            vault_reveal(
                organization=organization,
                token_id=credential.password_token,
                purpose="credential.password",
            )
            == login.password
        )
        if login.totp_secret:
            assert (
                vault_reveal(
                    organization=organization,
                    token_id=credential.totp_token,
                    purpose="credential.totp_secret",
                )
                == login.totp_secret
            )
    dump = database_dump()
    for login in LOGINS:
        assert login.password not in dump
        if login.totp_secret:
            assert login.totp_secret not in dump
        if login.security_answer:
            assert login.security_answer not in dump

    # A new public URL moves the sources along.
    settings.PUBLIC_URL = "http://127.0.0.1:9000"
    _call("bootstrap_demo")
    brightwater.refresh_from_db()
    assert brightwater.url == "http://127.0.0.1:9000/sandbox/brightwater/"
    assert Source.objects.count() == 4
