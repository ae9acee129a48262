from __future__ import annotations

import pytest

from tasks.sandbox.accounts import WRONG_PASSWORD, sandbox_logins, sandbox_primary_login
from tasks.sandbox.formats import usd
from tasks.sandbox.models import Cancellation
from tasks.sandbox.records import hotel_reservations
from tasks.sandbox.services import sandbox_layout_set
from tests.sandbox.conftest import TODAY, sign_in

BASE = "/sandbox/harbor/"


@pytest.mark.django_db
def test_signin_by_member_number_or_email_and_refusal(client):
    login = sandbox_primary_login("harbor")
    response = client.post(
        f"{BASE}signin/", {"member": login.member_number, "password": WRONG_PASSWORD}
    )
    assert response.status_code == 401
    assert "sign you in with that member number" in response.content.decode()
    assert client.get(BASE).status_code == 302
    response = client.post(f"{BASE}signin/", {"member": login.email, "password": login.password})
    assert response.status_code == 302
    page = client.get(BASE).content.decode()
    assert "Upcoming reservations" in page
    assert login.full_name in page


@pytest.mark.django_db
def test_upcoming_and_past_reservations(client):
    login = sandbox_primary_login("harbor")
    sign_in(client, login)
    reservations = hotel_reservations(login)
    upcoming = [r for r in reservations if r.check_in >= TODAY]
    past = [r for r in reservations if r.check_in < TODAY]
    assert upcoming
    assert past
    page = client.get(BASE).content.decode()
    upcoming_table = page.split('id="upcoming"')[1].split("</table>")[0]
    past_table = page.split('id="past"')[1].split("</table>")[0]
    for header in ("Confirmation number", "Hotel", "Check-in", "Check-out", "Guests", "Total cost"):
        assert f">{header}</th>" in upcoming_table
    for r in upcoming:
        assert r.confirmation_number in upcoming_table
        assert r.hotel_name in upcoming_table
        assert usd(r.total_cost) in upcoming_table
        assert (
            r.check_in.strftime("%a, %b ") + f"{r.check_in.day}, {r.check_in.year}"
            in upcoming_table
        )
    for r in past:
        assert r.confirmation_number in past_table
        assert r.confirmation_number not in upcoming_table

    first = upcoming[0]
    detail = client.get(f"{BASE}reservations/{first.confirmation_number}/").content.decode()
    assert f"<dt>Confirmation number</dt><dd>{first.confirmation_number}</dd>" in detail
    assert f"<dt>Guests</dt><dd>{first.guests}</dd>" in detail
    assert "Cancel reservation" in detail
    past_detail = client.get(f"{BASE}reservations/{past[0].confirmation_number}/").content.decode()
    assert "Cancel reservation" not in past_detail
    # Another member's reservation is not reachable.
    other = hotel_reservations(sandbox_logins("harbor")[1])[0]
    assert client.get(f"{BASE}reservations/{other.confirmation_number}/").status_code == 404


@pytest.mark.django_db
def test_cancel_reservation_with_a_confirm_step(client):
    login = sandbox_primary_login("harbor")
    sign_in(client, login)
    target = next(r for r in hotel_reservations(login) if r.check_in >= TODAY)
    confirm = client.get(f"{BASE}reservations/{target.confirmation_number}/cancel/")
    assert confirm.status_code == 200
    assert "Confirm cancellation" in confirm.content.decode()
    assert not Cancellation.objects.exists()  # GET only asks

    response = client.post(f"{BASE}reservations/{target.confirmation_number}/cancel/")
    assert response.status_code == 302
    cancellation = Cancellation.objects.get()
    assert cancellation.cancellation_number.startswith("HXC-")
    page = client.get(response["Location"]).content.decode()
    assert f'<dd id="cancellation-number">{cancellation.cancellation_number}</dd>' in page
    assert "<dt>Status</dt><dd>Cancelled</dd>" in page

    trips = client.get(BASE).content.decode()
    upcoming_table = trips.split('id="upcoming"')[1].split("</table>")[0]
    assert target.confirmation_number not in upcoming_table
    cancelled_table = trips.split('id="cancelled"')[1].split("</table>")[0]
    assert target.confirmation_number in cancelled_table
    # A second confirm changes nothing.
    client.post(f"{BASE}reservations/{target.confirmation_number}/cancel/")
    assert Cancellation.objects.count() == 1
    # Past stays cannot be cancelled.
    past = next(r for r in hotel_reservations(login) if r.check_in < TODAY)
    assert client.post(f"{BASE}reservations/{past.confirmation_number}/cancel/").status_code == 409


@pytest.mark.django_db
@pytest.mark.parametrize("layout", ["classic", "redesign"])
def test_pages_render_in_both_layouts(client, layout):
    sandbox_layout_set(slug="harbor", layout=layout)
    login = sandbox_primary_login("harbor")
    page = client.get(f"{BASE}signin/").content.decode()
    assert ('id="login-id"' in page) == (layout == "redesign")
    sign_in(client, login)
    r = next(r for r in hotel_reservations(login) if r.check_in >= TODAY)
    for path in (
        "",
        "profile/",
        f"reservations/{r.confirmation_number}/",
        f"reservations/{r.confirmation_number}/cancel/",
    ):
        response = client.get(f"{BASE}{path}")
        assert response.status_code == 200, path
        text = response.content.decode()
        assert ("Reservations</a>" in text) == (layout == "redesign")
        assert ("My Trips</a>" in text) == (layout == "classic")
    trips = client.get(BASE).content.decode()
    if layout == "redesign":
        assert ">Conf. #</th>" in trips
        assert ">Arrive</th>" in trips
