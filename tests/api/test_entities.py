"""Entities: recorded by the agent from what a login shows, listed by the API, scoping runs."""

from __future__ import annotations

from typing import Any

import pytest

from deck.errors import InvalidInput
from tasks.agent.runtime import RunContext
from tasks.execution import run_execute
from tasks.models import Entity, TaskRun
from tasks.services import entities_record
from tests.api.factories import make_credential, make_source, make_task
from tests.api.test_resources import database_dump

pytestmark = pytest.mark.django_db

ACCOUNTS = [
    {"type": "account", "external_id": "ACC-1001", "name": "Home", "attributes": {"zip": "10001"}},
    {"type": "account", "external_id": "ACC-1002", "name": "Cabin", "attributes": {}},
    {"type": "meter", "external_id": "M-77", "name": "Main meter", "attributes": {"kwh": 412}},
]


@pytest.fixture
def credential(org):
    return make_credential(org)


def test_record_creates_then_updates_in_place(credential):
    first = entities_record(credential_id=credential.id, found=ACCOUNTS)
    assert [e.external_id for e in first] == ["ACC-1001", "ACC-1002", "M-77"]
    assert all(e.id.startswith("ent_") for e in first)
    assert {e.organization_id for e in first} == {credential.organization_id}
    assert {e.source_id for e in first} == {credential.source_id}
    seen_at = first[0].last_seen_at

    renamed = [{**ACCOUNTS[0], "name": "Home (new)", "attributes": {"zip": "10002"}}]
    again = entities_record(credential_id=credential.id, found=renamed)
    assert [e.id for e in again] == [first[0].id]
    assert Entity.objects.count() == 3
    stored = Entity.objects.get(pk=first[0].id)
    assert (stored.name, stored.attributes) == ("Home (new)", {"zip": "10002"})
    assert stored.first_seen_at == first[0].first_seen_at
    assert stored.last_seen_at >= seen_at

    # Idempotent: the same list twice yields the same entities and no new rows.
    assert [e.id for e in entities_record(credential_id=credential.id, found=ACCOUNTS)] == [
        e.id for e in first
    ]
    assert Entity.objects.count() == 3


def test_record_keys_by_credential_type_and_external_id(org, credential):
    other_login = make_credential(org, source=credential.source)
    mine = entities_record(credential_id=credential.id, found=ACCOUNTS[:1])
    theirs = entities_record(credential_id=other_login.id, found=ACCOUNTS[:1])
    as_location = entities_record(
        credential_id=credential.id, found=[{**ACCOUNTS[0], "type": "location"}]
    )
    assert len({mine[0].id, theirs[0].id, as_location[0].id}) == 3


def test_record_folds_repeats_and_normalizes(credential):
    found = [
        {"type": " account ", "external_id": 42, "name": "First"},
        {"type": "account", "external_id": "42", "name": "Second"},
    ]
    [entity] = entities_record(credential_id=credential.id, found=found)
    assert (entity.type, entity.external_id, entity.name, entity.attributes) == (
        "account",
        "42",
        "Second",
        {},
    )


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ("ACC-1", "found[0]"),
        ({"external_id": "A"}, "found[0].type"),
        ({"type": "account", "external_id": ""}, "found[0].external_id"),
        ({"type": "account", "external_id": "A", "name": 7}, "found[0].name"),
        ({"type": "account", "external_id": "A", "attributes": [1]}, "found[0].attributes"),
        ({"type": "x" * 65, "external_id": "A"}, "found[0].type"),
    ],
)
def test_record_refuses_malformed_items_without_writing(credential, item, field):
    with pytest.raises(InvalidInput) as caught:
        entities_record(credential_id=credential.id, found=[item])
    assert caught.value.field == field
    assert not Entity.objects.exists()


def test_list_and_get(api, credential):
    recorded = entities_record(credential_id=credential.id, found=ACCOUNTS)
    response = api.get("/v2/entities")
    assert response.status_code == 200
    body = response.json()
    assert {item["id"] for item in body["data"]} == {e.id for e in recorded}
    assert body["has_more"] is False

    detail = api.get(f"/v2/entities/{recorded[2].id}").json()
    assert detail == {
        "id": recorded[2].id,
        "object": "entity",
        "credential_id": credential.id,
        "source_id": credential.source_id,
        "type": "meter",
        "external_id": "M-77",
        "name": "Main meter",
        "attributes": {"kwh": 412},
        "created_at": detail["created_at"],
        "updated_at": detail["updated_at"],
        "request_id": detail["request_id"],
    }


def test_list_filters_and_pages_newest_first(org, api, credential):
    other = make_credential(org, source=credential.source)
    for index in range(3):
        entities_record(
            credential_id=credential.id,
            found=[{"type": "account", "external_id": f"A{index}", "name": f"#{index}"}],
        )
    entities_record(credential_id=credential.id, found=[{"type": "meter", "external_id": "M"}])
    entities_record(credential_id=other.id, found=[{"type": "account", "external_id": "B"}])

    accounts = api.get(f"/v2/entities?credential_id={credential.id}&type=account&limit=2").json()
    assert [item["external_id"] for item in accounts["data"]] == ["A2", "A1"]
    assert accounts["has_more"] is True
    rest = api.get(
        f"/v2/entities?credential_id={credential.id}&type=account&limit=2"
        f"&cursor={accounts['next_cursor']}"
    ).json()
    assert [item["external_id"] for item in rest["data"]] == ["A0"]
    assert rest["has_more"] is False

    by_other = api.get(f"/v2/entities?credential_id={other.id}").json()["data"]
    assert [item["external_id"] for item in by_other] == ["B"]
    assert api.get("/v2/entities?limit=0").json()["errors"][0]["field"] == "limit"


def test_another_organization_sees_nothing(api, stranger_api, credential):
    [entity] = entities_record(credential_id=credential.id, found=ACCOUNTS[:1])
    response = stranger_api.get(f"/v2/entities/{entity.id}")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "entity_not_found"
    assert stranger_api.get("/v2/entities").json()["data"] == []
    assert stranger_api.get(f"/v2/entities?credential_id={credential.id}").json()["data"] == []
    assert api.get("/v2/entities/ent_nope").status_code == 404


# -- runs scoped to entities ----------------------------------------------------------------


class EntityPlanner:
    """Records what the "login" showed, then reports the entities the run is scoped to."""

    def run(self, context: RunContext) -> dict[str, Any]:
        password = context.credential_secret("password")
        recorded = context.record_entities(
            [
                {"type": "account", "external_id": "ACC-9", "name": "New", "attributes": {}},
                # An agent that copies a secret into an entity must not get it stored.
                {"type": "account", "external_id": "ACC-10", "attributes": {"note": password}},
                # One bad row of a scraped list comes back with its error, the rest is kept.
                {"type": "account", "name": "No number"},
            ]
        )
        context.login_verified()
        return {"scoped": context.entities, "recorded": recorded}


@pytest.fixture
def entity_planner(settings):
    settings.DECK_AGENT_PLANNER = "tests.api.test_entities.EntityPlanner"


def start(api, task, **body):
    return api.post(f"/v2/tasks/{task.id}/run", {"input": {}, **body})


def test_run_scoped_to_entities_gets_them_in_its_context(org, api, credential, entity_planner):
    task = make_task(org, input_schema={"type": "object"}, output_schema={"type": "object"})
    recorded = entities_record(credential_id=credential.id, found=ACCOUNTS)
    # One entity (named twice) is one run; several make a fan-out (tests/tasks/test_fanout).
    wanted = [recorded[2].id, recorded[2].id]
    response = start(api, task, credential_id=credential.id, entity_ids=wanted)
    assert response.status_code == 201, response.json()
    run = response.json()
    assert run["entity_ids"] == [recorded[2].id]
    assert api.get(f"/v2/task-runs/{run['id']}").json()["entity_ids"] == run["entity_ids"]

    assert run_execute(run["id"]) == "finished"
    output = TaskRun.objects.get(pk=run["id"]).output
    assert output["scoped"] == [
        {
            "id": recorded[2].id,
            "type": "meter",
            "external_id": "M-77",
            "name": "Main meter",
            "attributes": {"kwh": 412},
        },
    ]
    *good, bad = output["recorded"]
    assert bad == {
        "type": "account",
        "name": "No number",
        "id": None,
        "error": "found[2].external_id must be a text of 1 to 255 characters.",
    }
    new = {item["external_id"]: item for item in good}
    assert new["ACC-9"]["id"].startswith("ent_")
    assert Entity.objects.get(pk=new["ACC-10"]["id"]).attributes == {"note": "[redacted]"}
    assert "hunter2-secret" not in database_dump()
    credential.refresh_from_db()
    assert credential.status == "verified"


def test_unscoped_run_has_no_entities(org, api, credential, entity_planner, monkeypatch):
    # Long lists are recorded in chunks (here of one) so no single write grows unbounded.
    monkeypatch.setattr("tasks.execution.MAX_ENTITIES_PER_RECORD", 1)
    task = make_task(org, input_schema={"type": "object"}, output_schema={"type": "object"})
    run = start(api, task, credential_id=credential.id).json()
    assert run["entity_ids"] == []
    run_execute(run["id"])
    output = TaskRun.objects.get(pk=run["id"]).output
    assert output["scoped"] == []
    assert [item["external_id"] for item in output["recorded"][:2]] == ["ACC-9", "ACC-10"]
    assert Entity.objects.filter(credential=credential).count() == 2


def test_entity_ids_must_belong_to_the_runs_credential(org, other_org, api, credential):
    task = make_task(org)
    mine = entities_record(credential_id=credential.id, found=ACCOUNTS[:1])[0]
    sibling_login = make_credential(org, source=credential.source)
    siblings = entities_record(credential_id=sibling_login.id, found=ACCOUNTS[:1])[0]
    foreign_login = make_credential(other_org)
    foreign = entities_record(credential_id=foreign_login.id, found=ACCOUNTS[:1])[0]

    for entity_ids, body in [
        (["ent_unknown"], {"credential_id": credential.id}),
        ([mine.id, siblings.id], {"credential_id": credential.id}),
        ([foreign.id], {"credential_id": credential.id}),
        # A run without a credential has no login, hence no entities.
        ([mine.id], {"source_id": credential.source_id}),
    ]:
        response = start(api, task, entity_ids=entity_ids, **body)
        assert response.status_code == 404, response.json()
        error = response.json()["errors"][0]
        assert (error["code"], error["field"]) == ("entity_not_found", "entity_ids")
        assert error["message"] == f"No entity with id {entity_ids[-1]!r}."
    assert not TaskRun.objects.exists()

    assert start(api, task, credential_id=credential.id, entity_ids=[]).status_code == 201
    too_many = start(api, task, credential_id=credential.id, entity_ids=["ent_x"] * 1001)
    assert too_many.status_code == 400


def test_entities_of_a_deleted_credential_go_with_it(org, api, credential):
    make_source(org)
    entities_record(credential_id=credential.id, found=ACCOUNTS)
    assert api.delete(f"/v2/credentials/{credential.id}").status_code == 200
    assert not Entity.objects.exists()
