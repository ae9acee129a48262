"""Create and edit forms: agents, sources, credentials (secrets write-only) and tasks."""

from __future__ import annotations

import json

from django.test import Client
from django.urls import reverse

from deck.vault.models import VaultToken
from tasks.models import Agent, Credential, Source, Task
from tests.api.factories import make_agent, make_credential, make_source, make_task
from tests.console.conftest import World

HX = {"HX-Request": "true"}
TOTP_SEED = "JBSWY3DPEHPK3PXPJBSWY3DP"


def test_create_an_agent(member: Client, org) -> None:
    response = member.post(
        reverse("console:agents_create"), {"name": "Bills", "description": "Utility bills"}
    )
    agent = Agent.objects.get(organization=org)
    assert response.status_code == 302
    assert response["Location"] == reverse("console:agents_detail", args=[agent.id])
    assert agent.description == "Utility bills"


def test_create_an_agent_with_htmx_redirects_the_browser(member: Client, org) -> None:
    response = member.post(reverse("console:agents_create"), {"name": "Bills"}, headers=HX)
    agent = Agent.objects.get(organization=org)
    assert response["HX-Redirect"] == reverse("console:agents_detail", args=[agent.id])


def test_an_agent_needs_a_name(member: Client, org) -> None:
    for headers in ({}, HX):
        response = member.post(reverse("console:agents_create"), {"name": ""}, headers=headers)
        assert response.status_code == 200
        assert "This field is required." in response.content.decode()
    assert not Agent.objects.filter(organization=org).exists()


def test_agent_page_lists_its_tasks(member: Client, org) -> None:
    agent = make_agent(org)
    task = make_task(org, agent, name="Latest bill")
    other = make_task(org, name="Somebody else's")
    content = member.get(reverse("console:agents_detail", args=[agent.id])).content.decode()
    assert task.name in content
    assert other.name not in content


def test_create_and_edit_a_source(member: Client, org) -> None:
    response = member.post(
        reverse("console:sources_create"),
        {"name": "PowerCo", "url": "https://powerco.example/login", "timeout": "300"},
    )
    assert response.status_code == 302
    source = Source.objects.get(organization=org)
    assert (source.url, source.interaction_timeout_seconds) == (
        "https://powerco.example/login",
        300,
    )

    edit = member.get(reverse("console:sources_edit", args=[source.id])).content.decode()
    assert 'value="https://powerco.example/login"' in edit
    response = member.post(
        reverse("console:sources_update", args=[source.id]),
        {"name": "PowerCo East", "url": "https://east.powerco.example/", "timeout": "600"},
        headers=HX,
    )
    assert response["HX-Redirect"] == reverse("console:sources")
    source.refresh_from_db()
    assert (source.name, source.url, source.interaction_timeout_seconds) == (
        "PowerCo East",
        "https://east.powerco.example/",
        600,
    )


def test_source_url_errors_show_next_to_the_field(member: Client, org) -> None:
    response = member.post(
        reverse("console:sources_create"), {"name": "Files", "url": "ftp://files.example/"}
    )
    content = response.content.decode()
    assert 'id="id_url_error"' in content
    assert "website.url must be an http or https URL." in content
    assert not Source.objects.filter(organization=org).exists()


def _credential_form(source: Source, **fields: str) -> dict[str, str]:
    return {
        "source": source.id,
        "auth_method": "username_password",
        "username": "jordan",
        "password": "",
        "totp_secret": "",
        "external_id": "",
        **fields,
    }


def test_credential_secrets_are_write_only(member: Client, org) -> None:
    source = make_source(org)
    password = "correct-horse-battery-staple"
    response = member.post(
        reverse("console:credentials_create"),
        _credential_form(
            source,
            password=password,
            totp_secret=TOTP_SEED,
            source_field_name_0="member_number",
            source_field_value_0="MN-55512",
            external_id="customer-42",
        ),
    )
    assert response.status_code == 302
    credential = Credential.objects.get(organization=org)
    assert credential.password_token
    assert credential.totp_token
    assert credential.source_field_names == ["member_number"]
    assert credential.external_id == "customer-42"
    password_token = credential.password_token

    listing = member.get(reverse("console:credentials")).content.decode()
    assert "has_password" in listing
    assert "has_totp" in listing
    assert "member_number" in listing
    edit_url = reverse("console:credentials_edit", args=[credential.id])
    edit = member.get(edit_url).content.decode()
    assert 'value="jordan"' in edit
    assert 'value="member_number"' in edit

    # Blank secrets keep the stored ones; only the external id changes.
    response = member.post(
        reverse("console:credentials_update", args=[credential.id]),
        {
            "username": "jordan",
            "password": "",
            "source_field_name_0": "member_number",
            "external_id": "customer-43",
        },
    )
    assert response.status_code == 302
    credential.refresh_from_db()
    assert credential.password_token == password_token
    assert credential.external_id == "customer-43"
    assert credential.source_field_names == ["member_number"]
    assert VaultToken.objects.filter(pk=password_token).exists()

    # A form error re-renders the form without the secrets typed into it.
    response = member.post(
        reverse("console:credentials_update", args=[credential.id]),
        {
            "username": "jordan",
            "password": "another-secret-1",
            "totp_secret": "not base32!",
            "source_field_name_0": "member_number",
        },
    )
    content = response.content.decode()
    assert 'id="id_totp_secret_error"' in content
    assert "another-secret-1" not in content
    credential.refresh_from_db()
    assert credential.password_token == password_token

    pages = [
        reverse("console:credentials"),
        edit_url,
        reverse("console:runs"),
        reverse("console:home"),
    ]
    for url in pages:
        for headers in ({}, HX):
            content = member.get(url, headers=headers).content.decode()
            for secret in (password, TOTP_SEED, "MN-55512", "another-secret-1"):
                assert secret not in content, (url, secret)


def test_a_new_password_replaces_the_old_token(member: Client, org) -> None:
    credential = make_credential(org)
    Credential.objects.filter(pk=credential.pk).update(status=Credential.Status.VERIFIED)
    old_token = credential.password_token
    response = member.post(
        reverse("console:credentials_update", args=[credential.id]),
        {"username": "jordan", "password": "brand-new-pass", "external_id": ""},
        headers=HX,
    )
    assert response["HX-Redirect"] == reverse("console:credentials")
    credential.refresh_from_db()
    assert credential.password_token != old_token
    assert credential.status == Credential.Status.UNVERIFIED
    assert not VaultToken.objects.filter(pk=old_token).exists()


def test_credential_errors_show_next_to_their_fields(member: Client, org) -> None:
    source = make_source(org)
    response = member.post(
        reverse("console:credentials_create"),
        _credential_form(
            source, password="", source_field_name_0="Bad Name", source_field_value_0="x"
        ),
    )
    content = response.content.decode()
    assert 'id="id_password_error"' in content
    response = member.post(
        reverse("console:credentials_create"),
        _credential_form(
            source, password="pw-123", source_field_name_0="Bad Name", source_field_value_0="x"
        ),
    )
    content = response.content.decode()
    assert 'id="id_source_field_name_0_error"' in content
    assert "must match" in content
    assert not Credential.objects.filter(organization=org).exists()


def test_a_credential_needs_a_source_of_the_organization(
    member: Client, org, their_world: World
) -> None:
    response = member.post(
        reverse("console:credentials_create"),
        _credential_form(their_world.source, password="pw-123"),
    )
    assert 'id="id_source_error"' in response.content.decode()
    assert not Credential.objects.filter(organization=org).exists()


def test_credentials_filter_by_source_and_status(member: Client, org) -> None:
    first, second = make_source(org, "PowerCo"), make_source(org, "WaterCo")
    mine = make_credential(org, first, username="at-powerco")
    theirs = make_credential(org, second, username="at-waterco")
    Credential.objects.filter(pk=theirs.pk).update(status=Credential.Status.INVALID)
    url = reverse("console:credentials")
    content = member.get(url, {"source": first.id}, headers=HX).content.decode()
    assert mine.username in content
    assert theirs.username not in content
    content = member.get(url, {"status": "invalid"}).content.decode()
    assert theirs.username in content
    assert mine.username not in content


def _task_form(agent: Agent, **fields: object) -> dict[str, object]:
    return {
        "name": "Latest bill",
        "agent": agent.id,
        "prompt": "Fetch the latest bill.",
        "input_schema": json.dumps({"type": "object", "properties": {}}),
        "output_schema": json.dumps({"type": "object"}),
        "timeout_seconds": "900",
        **fields,
    }


def test_create_a_task(member: Client, org) -> None:
    agent = make_agent(org)
    response = member.post(
        reverse("console:tasks_create"),
        _task_form(agent, review_required="on", storage_enabled="on"),
        headers=HX,
    )
    task = Task.objects.get(organization=org)
    assert response["HX-Redirect"] == reverse("console:tasks_detail", args=[task.id])
    assert (task.timeout_seconds, task.review_required, task.storage["enabled"]) == (
        900,
        True,
        True,
    )
    assert task.status == Task.Status.LEARNING


def test_a_bad_schema_shows_the_field_error_and_creates_nothing(member: Client, org) -> None:
    agent = make_agent(org)
    bad = {"type": "object", "properties": {"start": {"type": "strin"}}}
    for headers in ({}, HX):
        response = member.post(
            reverse("console:tasks_create"),
            _task_form(agent, input_schema=json.dumps(bad)),
            headers=headers,
        )
        content = response.content.decode()
        assert response.status_code == 200
        assert 'id="id_input_schema_error"' in content
        assert "input_schema is not valid JSON Schema 2020-12" in content
        assert 'aria-invalid="true"' in content
    assert not Task.objects.filter(organization=org).exists()


def test_task_form_errors_land_on_their_fields(member: Client, org, settings) -> None:
    agent = make_agent(org)
    cases = [
        ({"output_schema": '{"type": "object",'}, "output_schema", "Not valid JSON"),
        ({"output_schema": "[1, 2]"}, "output_schema", "Must be a JSON object"),
        (
            {"input_schema": json.dumps({"type": "object", "tokenized": ["card"]})},
            "input_schema",
            "not a property of input_schema",
        ),
        (
            {"timeout_seconds": str(settings.DECK_TASK_TIMEOUT_MAX_SECONDS + 1)},
            "timeout_seconds",
            "settings.timeout_seconds must be between",
        ),
        ({"extraction": "on"}, "storage_enabled", "need storage.enabled"),
        ({"agent": "agt_nope"}, "agent", "Select a valid choice"),
    ]
    for fields, field, message in cases:
        content = member.post(reverse("console:tasks_create"), {**_task_form(agent), **fields})
        text = content.content.decode()
        assert f'id="id_{field}_error"' in text, fields
        assert message in text, fields
    assert not Task.objects.filter(organization=org).exists()


def test_tasks_filter_by_agent_and_status(member: Client, org) -> None:
    first, second = make_agent(org, "Bills"), make_agent(org, "Policies")
    bill = make_task(org, first, name="Latest bill")
    policy = make_task(org, second, name="Policy documents")
    Task.objects.filter(pk=policy.pk).update(status=Task.Status.LIVE)
    url = reverse("console:tasks")
    content = member.get(url, {"agent": first.id}, headers=HX).content.decode()
    assert bill.name in content
    assert policy.name not in content
    content = member.get(url, {"status": "live"}).content.decode()
    assert policy.name in content
    assert bill.name not in content
