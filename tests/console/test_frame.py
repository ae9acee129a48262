from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from console.membership import SESSION_KEY
from deck.models import Membership
from deck.services import membership_add

User = get_user_model()


def test_anonymous_is_sent_to_login(client: Client, db: None) -> None:
    for name in ("console:home", "console:api_keys"):
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("console:login"))


def test_login_page_renders(client: Client, db: None) -> None:
    response = client.get(reverse("console:login"))
    assert response.status_code == 200
    assert b"Log in to the console" in response.content
    assert b"vendor/htmx.min.js" in response.content


def test_login_lands_on_the_members_organization(client: Client, stranger, other_org) -> None:
    response = client.post(
        reverse("console:login"),
        {"username": "stranger@globex.test", "password": "strange-pass-1!"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == reverse("console:home")
    assert response.context["organization"] == other_org
    assert b"Globex" in response.content
    assert b"Acme Utilities" not in response.content


def test_login_rejects_a_wrong_password(client: Client, owner) -> None:
    response = client.post(
        reverse("console:login"), {"username": "owner@acme.test", "password": "nope"}
    )
    assert response.status_code == 200
    assert b"Please enter a correct" in response.content


def test_logout_is_a_post(client: Client, owner) -> None:
    client.force_login(owner)
    response = client.post(reverse("console:logout"))
    assert response.status_code == 302
    assert client.get(reverse("console:home")).status_code == 302


def test_frame_has_csrf_headers_navigation_and_docs(client: Client, owner, org) -> None:
    client.force_login(owner)
    response = client.get(reverse("console:home"))
    content = response.content.decode()
    assert response.status_code == 200
    assert '<body hx-headers=\'{"X-CSRFToken": "' in content
    assert f'href="{reverse("console:api_keys")}"' in content
    assert 'href="/v2/docs"' in content
    # Sections without a page yet are plain text, not links.
    assert 'aria-disabled="true" title="Coming soon">Settings <span' in content
    assert "Acme Utilities" in content
    assert "Django admin" not in content


def test_staff_see_the_admin_link(client: Client, owner) -> None:
    owner.is_staff = True
    owner.save()
    client.force_login(owner)
    assert b"Django admin" in client.get(reverse("console:home")).content


def test_dashboard_counts(client: Client, owner, teammate, api) -> None:
    client.force_login(owner)
    response = client.get(reverse("console:home"))
    assert response.context["member_count"] == 2
    assert response.context["active_key_count"] == 1


def test_member_of_no_organization_gets_a_clear_page(client: Client, db: None) -> None:
    loner = User.objects.create_user(username="loner@example.test", password="x-pass-123!")
    client.force_login(loner)
    for name in ("console:home", "console:api_keys"):
        response = client.get(reverse(name))
        assert response.status_code == 403
        assert b"You are not in an organization yet" in response.content


def test_switcher_changes_the_current_organization(client: Client, owner, other_org) -> None:
    membership_add(organization=other_org, user=owner, role=Membership.Role.MEMBER)
    client.force_login(owner)
    assert b'name="organization"' in client.get(reverse("console:home")).content

    response = client.post(
        reverse("console:organization_switch"), {"organization": other_org.id}, follow=True
    )
    assert client.session[SESSION_KEY] == other_org.id
    assert response.context["organization"] == other_org
    assert b"Switched to Globex." in response.content


def test_switcher_refuses_an_organization_the_user_is_not_in(
    client: Client, owner, org, other_org
) -> None:
    client.force_login(owner)
    response = client.post(reverse("console:organization_switch"), {"organization": other_org.id})
    assert response.status_code == 404
    assert SESSION_KEY not in client.session
    assert client.get(reverse("console:home")).context["organization"] == org


def test_a_stale_session_choice_falls_back_to_a_membership(
    client: Client, owner, org, other_org
) -> None:
    client.force_login(owner)
    session = client.session
    session[SESSION_KEY] = other_org.id
    session.save()
    assert client.get(reverse("console:home")).context["organization"] == org


@pytest.mark.parametrize("method", ["get", "put"])
def test_switcher_only_accepts_post(client: Client, owner, method: str) -> None:
    client.force_login(owner)
    response = getattr(client, method)(reverse("console:organization_switch"))
    assert response.status_code == 405
