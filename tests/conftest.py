from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from deck.models import Membership, Organization
from deck.services import api_key_create, membership_add, organization_create

User = get_user_model()


class ApiClient:
    """A Django test client speaking JSON with a Bearer key."""

    def __init__(self, raw_key: str) -> None:
        self.raw_key = raw_key
        self.client = Client(headers={"Authorization": f"Bearer {raw_key}"})

    def _send(self, method: str, path: str, body: Any = None, **headers: str) -> Any:
        kwargs: dict[str, Any] = {"headers": headers}
        if body is not None:
            kwargs["data"] = body if isinstance(body, (str, bytes)) else json.dumps(body)
            kwargs["content_type"] = "application/json"
        return getattr(self.client, method)(path, **kwargs)

    def get(self, path: str, **headers: str) -> Any:
        return self._send("get", path, **headers)

    def post(self, path: str, body: Any = None, **headers: str) -> Any:
        return self._send("post", path, body if body is not None else {}, **headers)

    def patch(self, path: str, body: Any = None, **headers: str) -> Any:
        return self._send("patch", path, body if body is not None else {}, **headers)

    def delete(self, path: str, **headers: str) -> Any:
        return self._send("delete", path, **headers)


@pytest.fixture
def org(db: None) -> Organization:
    return organization_create(name="Acme Utilities", slug="acme")


@pytest.fixture
def other_org(db: None) -> Organization:
    return organization_create(name="Globex", slug="globex")


@pytest.fixture
def owner(org: Organization) -> Any:
    user = User.objects.create_user(username="owner@acme.test", password="owner-pass-123!")
    membership_add(organization=org, user=user, role=Membership.Role.OWNER)
    return user


@pytest.fixture
def teammate(org: Organization) -> Any:
    user = User.objects.create_user(username="teammate@acme.test", password="mate-pass-123!")
    membership_add(organization=org, user=user, role=Membership.Role.MEMBER)
    return user


@pytest.fixture
def stranger(other_org: Organization) -> Any:
    user = User.objects.create_user(username="stranger@globex.test", password="strange-pass-1!")
    membership_add(organization=other_org, user=user, role=Membership.Role.OWNER)
    return user


@pytest.fixture
def api(org: Organization) -> ApiClient:
    return ApiClient(api_key_create(organization=org, name="tests").raw_key)


@pytest.fixture
def stranger_api(other_org: Organization) -> ApiClient:
    return ApiClient(api_key_create(organization=other_org, name="tests").raw_key)
