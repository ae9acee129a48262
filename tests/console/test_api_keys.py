from __future__ import annotations

import re

from django.test import Client
from django.urls import reverse

from deck.models import ApiKey
from deck.selectors import api_key_authenticate
from deck.services import api_key_create, api_key_hash

# Longer than the prefix shown in listings (sk_live_ + 6 characters).
KEY = re.compile(r"sk_live_[A-Za-z0-9]{20,}")


def test_lists_the_organizations_keys_only(client: Client, owner, org, other_org) -> None:
    mine = api_key_create(organization=org, name="billing sync").api_key
    theirs = api_key_create(organization=other_org, name="globex secret").api_key
    client.force_login(owner)
    response = client.get(reverse("console:api_keys"))
    content = response.content.decode()
    assert response.status_code == 200
    assert "billing sync" in content
    assert f"{mine.prefix}…" in content
    assert "globex secret" not in content
    assert theirs.prefix not in content
    assert 'aria-current="page"' in content


def test_list_for_htmx_is_the_panel_only(client: Client, owner, org) -> None:
    api_key_create(organization=org, name="billing sync")
    client.force_login(owner)
    response = client.get(reverse("console:api_keys"), headers={"HX-Request": "true"})
    content = response.content.decode()
    assert content.lstrip().startswith('<div id="api-keys-panel"')
    assert "billing sync" in content
    assert "<html" not in content


def _create(client: Client, name: str, **headers: str) -> tuple[str, str]:
    response = client.post(reverse("console:api_keys_create"), {"name": name}, headers=headers)
    assert response.status_code == 200
    content = response.content.decode()
    keys = KEY.findall(content)
    assert len(set(keys)) == 1, keys
    return keys[0], content


def test_create_shows_the_key_once(client: Client, owner, org) -> None:
    client.force_login(owner)
    raw_key, content = _create(client, "reporting")
    assert "it will not be shown again" in content
    assert "<html" in content

    api_key = ApiKey.objects.get(organization=org, name="reporting")
    assert api_key.created_by == owner
    assert api_key.key_hash == api_key_hash(raw_key)
    assert raw_key not in {api_key.prefix, api_key.key_hash, api_key.name}
    assert api_key_authenticate(raw_key) == api_key

    listing = client.get(reverse("console:api_keys")).content.decode()
    assert raw_key not in listing
    assert f"{api_key.prefix}…" in listing


def test_create_with_htmx_returns_the_panel(client: Client, owner, org) -> None:
    client.force_login(owner)
    raw_key, content = _create(client, "reporting", **{"HX-Request": "true"})
    assert content.lstrip().startswith('<div id="api-keys-panel"')
    assert "<html" not in content
    assert ApiKey.objects.get(organization=org).key_hash == api_key_hash(raw_key)


def test_create_needs_a_name(client: Client, owner, org) -> None:
    client.force_login(owner)
    response = client.post(reverse("console:api_keys_create"), {"name": ""})
    assert response.status_code == 200
    assert b"This field is required." in response.content
    assert not ApiKey.objects.filter(organization=org).exists()


def test_create_is_post_only(client: Client, owner) -> None:
    client.force_login(owner)
    assert client.get(reverse("console:api_keys_create")).status_code == 405


def test_revoke_without_confirmation_asks_first(client: Client, owner, org) -> None:
    api_key = api_key_create(organization=org, name="ci").api_key
    client.force_login(owner)
    response = client.post(reverse("console:api_keys_revoke", args=[api_key.id]))
    assert response.status_code == 200
    assert b"Revoke this API key?" in response.content
    api_key.refresh_from_db()
    assert api_key.is_active


def test_revoke_full_page(client: Client, owner, org) -> None:
    created = api_key_create(organization=org, name="ci")
    client.force_login(owner)
    response = client.post(
        reverse("console:api_keys_revoke", args=[created.api_key.id]),
        {"confirm": "yes"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == reverse("console:api_keys")
    assert f"Revoked the key {created.api_key.prefix}".encode() in response.content
    created.api_key.refresh_from_db()
    assert created.api_key.revoked_at is not None
    assert api_key_authenticate(created.raw_key) is None


def test_revoke_with_htmx_swaps_the_row(client: Client, owner, org) -> None:
    api_key = api_key_create(organization=org, name="ci").api_key
    client.force_login(owner)
    response = client.post(
        reverse("console:api_keys_revoke", args=[api_key.id]),
        {"confirm": "yes"},
        headers={"HX-Request": "true"},
    )
    content = response.content.decode()
    assert response.status_code == 200
    assert content.lstrip().startswith(f'<tr id="api-key-{api_key.id}"')
    assert "Revoked" in content
    assert "hx-post" not in content
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None


def test_revoking_another_organizations_key_is_404(client: Client, owner, other_org) -> None:
    theirs = api_key_create(organization=other_org, name="globex").api_key
    client.force_login(owner)
    for headers in ({}, {"HX-Request": "true"}):
        response = client.post(
            reverse("console:api_keys_revoke", args=[theirs.id]),
            {"confirm": "yes"},
            headers=headers,
        )
        assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.is_active


def test_revoking_an_unknown_key_is_404(client: Client, owner) -> None:
    client.force_login(owner)
    response = client.post(
        reverse("console:api_keys_revoke", args=["key_nope"]), {"confirm": "yes"}
    )
    assert response.status_code == 404


def test_anonymous_cannot_create_or_revoke(client: Client, org) -> None:
    api_key = api_key_create(organization=org, name="ci").api_key
    response = client.post(reverse("console:api_keys_create"), {"name": "x"})
    assert response.status_code == 302
    response = client.post(
        reverse("console:api_keys_revoke", args=[api_key.id]), {"confirm": "yes"}
    )
    assert response.status_code == 302
    assert ApiKey.objects.filter(organization=org).count() == 1
    api_key.refresh_from_db()
    assert api_key.is_active
