"""Agents, sources and credentials."""

from __future__ import annotations

import json
import logging

import pytest
from django.apps import apps
from django.db import connection

from tasks.models import Credential
from tests.api.factories import make_agent, make_credential, make_source, make_task

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-staple-42"
TOTP_SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
PIN = "pin-7741-secret"


def test_agent_crud(org, api):
    created = api.post("/v2/agents", {"name": "Billing", "description": "Utilities"})
    assert created.status_code == 201
    agent = created.json()
    assert agent["id"].startswith("agt_")
    assert agent["object"] == "agent"
    assert agent["tasks"] == []
    task = make_task(org, org.agents.get())
    fetched = api.get(f"/v2/agents/{agent['id']}").json()
    assert fetched["tasks"] == [{"id": task.id, "name": task.name, "status": "learning"}]
    updated = api.patch(f"/v2/agents/{agent['id']}", {"name": "Bills"}).json()
    assert (updated["name"], updated["description"]) == ("Bills", "Utilities")
    assert api.get("/v2/agents").json()["data"][0]["id"] == agent["id"]
    conflict = api.delete(f"/v2/agents/{agent['id']}")
    assert conflict.status_code == 409
    assert conflict.json()["errors"][0]["code"] == "state_conflict"
    api.delete(f"/v2/tasks/{task.id}")
    assert api.delete(f"/v2/agents/{agent['id']}").json()["deleted"] is True


@pytest.mark.parametrize(
    ("body", "field"), [({}, "name"), ({"name": "  "}, "name"), ({"name": "a", "x": 1}, "x")]
)
def test_agent_bad_input(api, body, field):
    response = api.post("/v2/agents", body)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field


def test_source_crud(org, api):
    body = {
        "name": "EnergyLink",
        "type": "website",
        "website": {"url": "https://energylink.example"},
    }
    source = api.post("/v2/sources", body).json()
    assert source["id"].startswith("src_")
    assert source["website"] == {"url": "https://energylink.example"}
    assert source["type"] == "website"
    patched = api.patch(f"/v2/sources/{source['id']}", {"website": {"url": "https://e.example/x"}})
    assert patched.json()["website"]["url"] == "https://e.example/x"
    assert [s["id"] for s in api.get("/v2/sources").json()["data"]] == [source["id"]]
    make_credential(org, org.sources.get())
    assert api.delete(f"/v2/sources/{source['id']}").status_code == 409


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "website": {"url": "ftp://x.example"}}, "website.url"),
        ({"name": "x", "website": {"url": "not a url"}}, "website.url"),
        ({"name": "x", "type": "app", "website": {"url": "https://x.example"}}, "type"),
        ({"name": "x"}, "website"),
    ],
)
def test_source_bad_input(api, body, field):
    response = api.post("/v2/sources", body)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field


def test_credential_secrets_are_never_returned_nor_stored_plainly(org, api, caplog):
    caplog.set_level(logging.DEBUG)
    source = make_source(org)
    body = {
        "source_id": source.id,
        "auth_method": "username_password",
        "auth_credentials": {
            "username": "jordan@example.com",
            "password": PASSWORD,
            "totp_secret": TOTP_SEED,
            "source_fields": {"account_pin": PIN},
        },
        "external_id": "user-42",
    }
    response = api.post("/v2/credentials", body)
    assert response.status_code == 201
    credential = response.json()
    assert credential["auth_credentials"] == {
        "username": "jordan@example.com",
        "has_password": True,
        "has_totp": True,
        "source_fields": ["account_pin"],
    }
    assert credential["status"] == "unverified"
    assert credential["external_id"] == "user-42"
    responses = [
        response.content,
        api.get(f"/v2/credentials/{credential['id']}").content,
        api.get("/v2/credentials").content,
    ]
    for secret in (PASSWORD, TOTP_SEED, PIN):
        assert all(secret.encode() not in content for content in responses)
        assert secret not in caplog.text
        assert secret not in database_dump()


def database_dump() -> str:
    """Every value of every row of every table, as text."""
    chunks = []
    with connection.cursor() as cursor:
        for model in apps.get_models():
            table = model._meta.db_table
            cursor.execute(f'SELECT * FROM "{table}"')
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, memoryview):
                        value = value.tobytes()
                    if isinstance(value, bytes):
                        chunks.append(value.decode("latin-1"))
                    else:
                        chunks.append(json.dumps(value, default=str))
    return "\n".join(chunks)


def test_credential_update_replaces_secrets_and_unverifies(org, api):
    from deck.vault.models import VaultToken

    credential = make_credential(org)
    Credential.objects.filter(pk=credential.pk).update(status="verified")
    old_token = credential.password_token
    response = api.patch(
        f"/v2/credentials/{credential.id}", {"auth_credentials": {"password": "new-one-123"}}
    )
    assert response.status_code == 200
    assert response.json()["status"] == "unverified"
    assert response.json()["auth_credentials"]["username"] == "jordan"
    assert not VaultToken.objects.filter(id=old_token).exists()
    untouched = api.patch(f"/v2/credentials/{credential.id}", {"external_id": "ext-1"}).json()
    assert untouched["external_id"] == "ext-1"


def test_credential_delete_destroys_vault_tokens(org, api):
    from deck.vault.models import VaultToken

    credential = make_credential(org, totp_secret=TOTP_SEED)
    tokens = credential.vault_token_ids()
    assert len(tokens) == 2
    assert api.delete(f"/v2/credentials/{credential.id}").json()["deleted"] is True
    assert not VaultToken.objects.filter(id__in=tokens).exists()


def test_credential_list_filters(org, api):
    source_a, source_b = make_source(org, "A"), make_source(org, "B")
    a = make_credential(org, source_a)
    b = make_credential(org, source_b)
    Credential.objects.filter(pk=b.pk).update(status="invalid", external_id="ext-b")
    ids = lambda query: [c["id"] for c in api.get(f"/v2/credentials?{query}").json()["data"]]  # noqa: E731
    assert ids(f"source_id={source_a.id}") == [a.id]
    assert ids("status=invalid") == [b.id]
    assert ids("external_id=ext-b") == [b.id]
    assert api.get("/v2/credentials?status=bogus").status_code == 400


@pytest.mark.parametrize(
    ("auth", "field"),
    [
        ({"username": "u"}, "auth_credentials.password"),
        ({"password": "p"}, "auth_credentials.username"),
        (
            {"username": "u", "password": "p", "totp_secret": "not base32!"},
            "auth_credentials.totp_secret",
        ),
        (
            {"username": "u", "password": "p", "source_fields": {f"f{i}": "v" for i in range(11)}},
            "auth_credentials.source_fields",
        ),
        (
            {"username": "u", "password": "p", "source_fields": {"Bad-Name": "v"}},
            "auth_credentials.source_fields.Bad-Name",
        ),
        ({"username": "u", "password": "p", "pin": "1"}, "auth_credentials.pin"),
    ],
)
def test_credential_bad_input(org, api, auth, field):
    source = make_source(org)
    response = api.post("/v2/credentials", {"source_id": source.id, "auth_credentials": auth})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field
    assert not Credential.objects.exists()


def test_credential_without_auth(org, api):
    source = make_source(org)
    body = api.post("/v2/credentials", {"source_id": source.id, "auth_method": "none"}).json()
    assert body["auth_credentials"] == {
        "username": None,
        "has_password": False,
        "has_totp": False,
        "source_fields": [],
    }
    refused = api.post(
        "/v2/credentials",
        {"source_id": source.id, "auth_method": "none", "auth_credentials": {"password": "x"}},
    )
    assert refused.status_code == 400


def test_credential_for_another_organizations_source_is_404(other_org, api):
    foreign = make_source(other_org)
    response = api.post(
        "/v2/credentials",
        {"source_id": foreign.id, "auth_credentials": {"username": "u", "password": "p"}},
    )
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "source_not_found"


@pytest.mark.parametrize(
    ("kind", "method", "body"),
    [
        (kind, method, body)
        for kind in ("agents", "sources", "credentials")
        for method, body in (("get", None), ("patch", {"external_id": "x"}), ("delete", None))
    ],
)
def test_another_organization_gets_404(org, stranger_api, kind, method, body):
    objects = {
        "agents": make_agent(org),
        "sources": make_source(org),
        "credentials": make_credential(org),
    }
    target = objects[kind]
    if method == "patch" and kind != "credentials":
        body = {"name": "stolen"}
    path = f"/v2/{kind}/{target.pk}"
    response = (
        getattr(stranger_api, method)(path, body) if body else getattr(stranger_api, method)(path)
    )
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == f"{kind[:-1]}_not_found"
    assert stranger_api.get(f"/v2/{kind}").json()["data"] == []
    assert type(target).objects.filter(pk=target.pk).exists()
