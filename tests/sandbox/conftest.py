from __future__ import annotations

from datetime import date

import pyotp
import pytest
from django.test import Client

from tasks.sandbox.accounts import SandboxLogin

# A pinned day keeps the generated records (and so the expected values) the same on every run.
TODAY = date(2026, 3, 18)


@pytest.fixture(autouse=True)
def pinned_today(settings):
    settings.SANDBOX_TODAY = TODAY
    return TODAY


@pytest.fixture
def client() -> Client:
    return Client()


def sign_in(client: Client, login: SandboxLogin, *, account: str | None = None) -> None:
    """Walk a portal's whole sign-in for ``login`` with the Django test client."""
    if login.portal == "brightwater":
        response = client.post(
            "/sandbox/brightwater/login/", {"email": login.email, "password": login.password}
        )
        assert response.status_code == 302
        response = client.post(
            "/sandbox/brightwater/login/verify/", {"code": pyotp.TOTP(login.totp_secret).now()}
        )
        assert response.status_code == 302
        if account:
            client.post("/sandbox/brightwater/account/", {"account": account})
    elif login.portal == "cascade":
        response = client.post(
            "/sandbox/cascade/signin/", {"username": login.username, "password": login.password}
        )
        assert response.status_code == 302
        response = client.post(
            "/sandbox/cascade/signin/challenge/", {"answer": login.security_answer}
        )
        assert response.status_code == 302
        if login.multi_account:
            chosen = account or login.accounts[0].number
            response = client.post("/sandbox/cascade/accounts/", {"account": chosen})
            assert response.status_code == 302
    elif login.portal == "harbor":
        response = client.post(
            "/sandbox/harbor/signin/", {"member": login.member_number, "password": login.password}
        )
        assert response.status_code == 302
    else:
        response = client.post(
            "/sandbox/paystream/login/", {"username": login.username, "password": login.password}
        )
        assert response.status_code == 302
        response = client.post("/sandbox/paystream/login/device/", {"remember": "no"})
        assert response.status_code == 302
