"""An entity's page: its attributes and where it comes from, only in its organization."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from tasks.models import Entity
from tasks.services import entities_record
from tests.console.conftest import World

HX = {"HX-Request": "true"}


def test_entity_page_shows_attributes_and_stays_in_the_organization(
    member: Client, world: World, their_world: World
) -> None:
    entities_record(
        credential_id=world.credential.id,
        found=[
            {
                "type": "account",
                "external_id": "4417-2290-0183",
                "name": "Home",
                "attributes": {"address": "1840 Alder Street", "meter": {"id": "E-7730912"}},
            }
        ],
    )
    entities_record(
        credential_id=their_world.credential.id,
        found=[{"type": "policy", "external_id": "THEIR-POLICY"}],
    )
    mine = Entity.objects.get(credential=world.credential)
    theirs = Entity.objects.get(credential=their_world.credential)
    listing = member.get(reverse("console:entities")).content.decode()
    assert f'href="{reverse("console:entities_detail", args=[mine.id])}"' in listing
    url = reverse("console:entities_detail", args=[mine.id])
    for headers in ({}, HX):
        response = member.get(url, headers=headers)
        content = response.content.decode()
        assert response.status_code == 200
        assert "1840 Alder Street" in content
        assert "&quot;id&quot;: &quot;E-7730912&quot;" in content
        assert world.credential.username in content
    for headers in ({}, HX):
        other = member.get(reverse("console:entities_detail", args=[theirs.id]), headers=headers)
        assert other.status_code == 404
    assert member.get(reverse("console:entities_detail", args=["ent_nope"])).status_code == 404
