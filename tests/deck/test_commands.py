from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from deck.models import ApiKey, Membership, Organization
from deck.selectors import api_key_authenticate

User = get_user_model()


def _call(*args: str) -> list[str]:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().splitlines()


def _value(lines: list[str], label: str) -> str:
    return next(line.split(": ", 1)[1] for line in lines if line.startswith(f"{label}: "))


def test_bootstrap_demo_is_idempotent(db: None) -> None:
    first = _call("bootstrap_demo")
    second = _call("bootstrap_demo")

    assert Organization.objects.filter(slug="demo").count() == 1
    assert User.objects.filter(username="demo@deck.local").count() == 1
    organization = Organization.objects.get(slug="demo")
    user = User.objects.get(username="demo@deck.local")
    assert organization.name == "Demo"
    assert Membership.objects.get(organization=organization, user=user).role == "owner"

    # The first run creates the user and prints its password; later runs keep it.
    password = _value(first, "Password")
    assert user.check_password(password)
    assert _value(second, "Email") == "demo@deck.local"
    assert "unchanged" in _value(second, "Password")


def test_bootstrap_demo_reset_password(db: None) -> None:
    first = _value(_call("bootstrap_demo"), "Password")
    second = _value(_call("bootstrap_demo", "--reset-password"), "Password")
    assert first != second
    user = User.objects.get(username="demo@deck.local")
    assert user.check_password(second)
    assert not user.check_password(first)


def test_create_api_key_prints_a_working_key_last(org) -> None:
    lines = _call("create_api_key", "--org", "acme", "--name", "ci")
    api_key = api_key_authenticate(lines[-1])
    assert api_key is not None
    assert api_key.organization == org
    assert api_key.name == "ci"


def test_create_api_key_replace_revokes_the_previous_key_of_that_name(org) -> None:
    first = _call("create_api_key", "--org", "acme", "--name", "make run")[-1]
    other = _call("create_api_key", "--org", "acme", "--name", "other")[-1]
    second = _call("create_api_key", "--org", "acme", "--name", "make run", "--replace")[-1]
    assert api_key_authenticate(first) is None
    assert api_key_authenticate(other) is not None
    assert api_key_authenticate(second) is not None
    assert ApiKey.objects.filter(organization=org, revoked_at__isnull=True).count() == 2


def test_create_api_key_for_an_unknown_organization_fails(org) -> None:
    with pytest.raises(CommandError, match="No organization with slug 'nope'"):
        call_command("create_api_key", "--org", "nope", stdout=StringIO())
    assert not ApiKey.objects.exists()
