"""The console's entities page: what each login showed, filtered by credential and type."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from tasks.models import TaskRun
from tasks.services import entities_record
from tests.api.factories import make_credential
from tests.console.conftest import World

HX = {"HX-Request": "true"}


def test_lists_and_filters_the_organizations_entities(
    member: Client, world: World, their_world: World
) -> None:
    other_login = make_credential(world.organization, world.source, username="sam")
    entities_record(
        credential_id=world.credential.id,
        found=[
            {
                "type": "account",
                "external_id": "ACC-1",
                "name": "Home",
                "attributes": {"zip": "10001"},
            },
            {"type": "meter", "external_id": "M-9", "name": "Main meter"},
        ],
    )
    entities_record(
        credential_id=other_login.id, found=[{"type": "account", "external_id": "ACC-2"}]
    )
    entities_record(
        credential_id=their_world.credential.id,
        found=[{"type": "policy", "external_id": "THEIR-POLICY"}],
    )
    url = reverse("console:entities")

    page = member.get(url).content.decode()
    for shown in ("ACC-1", "M-9", "ACC-2", "zip: 10001", "Main meter"):
        assert shown in page
    assert "THEIR-POLICY" not in page
    assert 'value="policy"' not in page  # another organization's types are not offered

    accounts = member.get(url, {"type": "account"}, headers=HX).content.decode()
    assert accounts.lstrip().startswith('<div id="entities-table"')
    assert "ACC-1" in accounts
    assert "ACC-2" in accounts
    assert "M-9" not in accounts

    mine = member.get(url, {"credential": world.credential.id}).content.decode()
    assert "ACC-1" in mine
    assert "ACC-2" not in mine

    theirs = member.get(url, {"credential": their_world.credential.id}).content.decode()
    assert "THEIR-POLICY" not in theirs
    assert "No entities match these filters." in theirs


def test_run_form_scopes_a_run_to_entities(member: Client, world: World, their_world: World):
    mine = entities_record(
        credential_id=world.credential.id,
        found=[
            {"type": "account", "external_id": "ACC-1"},
            {"type": "meter", "external_id": "M-9"},
        ],
    )
    other_login = make_credential(world.organization, world.source, username="sam")
    [theirs] = entities_record(
        credential_id=other_login.id, found=[{"type": "account", "external_id": "ACC-2"}]
    )
    entities_record(
        credential_id=their_world.credential.id, found=[{"type": "policy", "external_id": "P-1"}]
    )
    url = reverse("console:tasks_run", args=[world.task.id])
    page = member.get(reverse("console:tasks_detail", args=[world.task.id])).content.decode()
    assert "Only these entities" in page
    assert "account ACC-1 — jordan" in page
    assert "P-1" not in page
    base = {"target": f"credential:{world.credential.id}", "input_card_number": "4111111111111111"}

    response = member.post(url, {**base, "entities": [mine[1].id]})
    assert response.status_code == 302
    run = TaskRun.objects.exclude(pk=world.run.pk).get(task=world.task)
    assert run.entity_ids == [mine[1].id]

    refused = member.post(url, {**base, "entities": [theirs.id]}, headers=HX).content.decode()
    assert f"No entity with id &#x27;{theirs.id}&#x27;." in refused
    assert 'id="id_entities_error"' in refused
    assert TaskRun.objects.filter(task=world.task).count() == 2
