"""What the portals share: the index, noindex, isolation from the console and /v2, the
layout switch and deterministic records."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from deck.errors import InvalidInput
from tasks.sandbox.accounts import (
    sandbox_authenticate,
    sandbox_login,
    sandbox_logins,
    sandbox_multi_account_login,
    sandbox_portals,
    sandbox_primary_login,
    sandbox_wrong_login,
)
from tasks.sandbox.models import PortalLayout
from tasks.sandbox.records import hotel_reservations, payroll_payslips, utility_bills
from tasks.sandbox.selectors import sandbox_layout
from tasks.sandbox.services import sandbox_layout_set


@pytest.mark.django_db
def test_index_lists_every_portal_without_a_console_login(client):
    response = client.get("/sandbox/")
    assert response.status_code == 200
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    page = response.content.decode()
    for portal in sandbox_portals():
        assert f'href="/sandbox/{portal.slug}/"' in page
        assert portal.name.replace("&", "&amp;") in page
        for login in sandbox_logins(portal.slug):
            assert f"<code>{login.username}</code>" in page
    assert client.get("/sandbox/robots.txt").content == b"User-agent: *\nDisallow: /\n"


@pytest.mark.django_db
def test_sandbox_is_not_part_of_the_api(client):
    for path in ("/v2/sandbox/", "/v2/sandbox/brightwater/login/"):
        assert client.get(path).status_code in {401, 404}


def test_demo_logins_cover_the_cases_other_suites_need():
    for slug in ("brightwater", "cascade"):
        assert len(sandbox_primary_login(slug).accounts) == 1
        assert len(sandbox_multi_account_login(slug).accounts) > 1
    assert all(login.totp_secret for login in sandbox_logins("brightwater"))
    assert all(login.security_answer for login in sandbox_logins("cascade"))
    for portal in sandbox_portals():
        primary = sandbox_primary_login(portal.slug)
        assert sandbox_authenticate(portal.slug, primary.username, primary.password) == primary
        wrong = sandbox_wrong_login(portal.slug)
        assert sandbox_authenticate(portal.slug, wrong.username, wrong.password) is None
    harbor = sandbox_primary_login("harbor")
    assert sandbox_login("harbor", harbor.member_number.lower()) == harbor
    assert sandbox_primary_login("cascade").auth_credentials()["source_fields"] == {
        "security_answer": "Biscuit"
    }


def test_records_are_deterministic_per_login_and_differ_between_logins():
    first, second = sandbox_logins("brightwater")
    bills = utility_bills("brightwater", first, first.accounts[0])
    assert bills == utility_bills("brightwater", first, first.accounts[0])
    other = utility_bills("brightwater", second, second.accounts[0])
    assert [b.amount_due for b in bills] != [b.amount_due for b in other]
    ellen, tomas = sandbox_logins("harbor")
    assert hotel_reservations(ellen) == hotel_reservations(ellen)
    assert {r.confirmation_number for r in hotel_reservations(ellen)}.isdisjoint(
        r.confirmation_number for r in hotel_reservations(tomas)
    )
    jordan, alex = sandbox_logins("paystream")
    assert payroll_payslips(jordan) == payroll_payslips(jordan)
    assert payroll_payslips(jordan)[0].gross_pay != payroll_payslips(alex)[0].gross_pay


@pytest.mark.django_db
def test_layout_switch_by_service_and_command():
    assert sandbox_layout("cascade") == "classic"
    sandbox_layout_set(slug="cascade", layout="redesign")
    assert sandbox_layout("cascade") == "redesign"
    sandbox_layout_set(slug="cascade", layout="redesign")
    assert PortalLayout.objects.count() == 1
    with pytest.raises(InvalidInput):
        sandbox_layout_set(slug="cascade", layout="retro")
    with pytest.raises(InvalidInput):
        sandbox_layout_set(slug="nowhere", layout="classic")

    out = StringIO()
    call_command("sandbox_layout", "harbor", "redesign", stdout=out)
    assert out.getvalue().strip() == "harbor: redesign"
    out = StringIO()
    call_command("sandbox_layout", "harbor", stdout=out)
    assert out.getvalue().strip() == "harbor: redesign"
    with pytest.raises(CommandError):
        call_command("sandbox_layout", "harbor", "retro")


@pytest.mark.django_db
def test_the_redesign_breaks_recorded_locators(client):
    """What a recorded playbook would click on the classic login is gone after the switch."""
    classic = client.get("/sandbox/brightwater/login/").content.decode()
    sandbox_layout_set(slug="brightwater", layout="redesign")
    redesign = client.get("/sandbox/brightwater/login/").content.decode()
    assert 'id="email"' in classic
    assert 'id="email"' not in redesign
    assert ">Sign in</button>" in classic
    assert ">Log in</button>" in redesign
    # ...while a generic agent still finds labelled fields.
    assert '<label for="user-email">Email</label>' in redesign
