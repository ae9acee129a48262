"""The console's entities page: what each login showed, filtered by credential and type."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

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
