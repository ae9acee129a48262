"""A credential's status follows what the source said about the login, with its events."""

from __future__ import annotations

import pytest
from django.db import transaction

from deck.events.models import Event
from tasks.execution import run_execute
from tasks.models import Credential, TaskRun
from tasks.schemas import credential_representation
from tasks.services import credential_mark_invalid, credential_mark_verified
from tests.api.factories import make_credential, make_task

pytestmark = pytest.mark.django_db

TOTP_SEED = "JBSWY3DPEHPK3PXPJBSWY3DP"


@pytest.fixture
def credential(org):
    return make_credential(org, totp_secret=TOTP_SEED)


def events(type: str) -> list[Event]:
    return list(Event.objects.filter(type=type).order_by("created_at"))


def status(credential: Credential) -> str:
    credential.refresh_from_db()
    return credential.status


def test_verified_once_with_its_event(credential):
    assert credential_mark_verified(credential_id=credential.id) is True
    assert status(credential) == "verified"
    assert credential_mark_verified(credential_id=credential.id) is False
    [event] = events("credential.verified")
    assert event.organization_id == credential.organization_id
    assert event.data == credential_representation(credential)
    assert event.data["status"] == "verified"
    assert event.data["auth_credentials"] == {
        "username": "jordan",
        "has_password": True,
        "has_totp": True,
        "source_fields": [],
    }


def test_invalid_then_verified_again(credential):
    credential_mark_verified(credential_id=credential.id)
    assert credential_mark_invalid(credential_id=credential.id) is True
    assert credential_mark_invalid(credential_id=credential.id) is False
    assert status(credential) == "invalid"
    assert [e.data["status"] for e in events("credential.invalid")] == ["invalid"]
    assert credential_mark_verified(credential_id=credential.id) is True
    assert status(credential) == "verified"
    assert len(events("credential.verified")) == 2


def test_event_and_status_commit_together(credential):
    def verify_then_fail() -> None:
        with transaction.atomic():
            credential_mark_verified(credential_id=credential.id)
            raise RuntimeError("the surrounding change failed")

    with pytest.raises(RuntimeError):
        verify_then_fail()
    assert status(credential) == "unverified"
    assert not events("credential.verified")


def test_no_secret_in_event_payloads(credential):
    credential_mark_verified(credential_id=credential.id)
    credential_mark_invalid(credential_id=credential.id)
    payloads = " ".join(str(e.data) for e in Event.objects.all())
    assert "credential" in payloads
    for secret in ("hunter2-secret", TOTP_SEED):
        assert secret not in payloads


def test_unknown_credential_changes_nothing(db):
    assert credential_mark_verified(credential_id="cred_gone") is False
    assert not Event.objects.exists()


def test_new_password_sends_it_back_to_unverified(api, credential):
    credential_mark_verified(credential_id=credential.id)
    renamed = api.patch(f"/v2/credentials/{credential.id}", {"external_id": "user-7"})
    assert renamed.json()["status"] == "verified"
    changed = api.patch(
        f"/v2/credentials/{credential.id}", {"auth_credentials": {"password": "n3w-password"}}
    )
    assert changed.json()["status"] == "unverified"


# -- from the run lifecycle ---------------------------------------------------------------


@pytest.fixture(autouse=True)
def scripted_planner(settings):
    settings.DECK_AGENT_PLANNER = "tests.tasks.planners.ScriptedPlanner"


def run_with(api, org, credential, prompt):
    task = make_task(org, prompt=prompt, input_schema={"type": "object"})
    response = api.post(f"/v2/tasks/{task.id}/run", {"credential_id": credential.id, "input": {}})
    assert response.status_code == 201, response.json()
    run_id = response.json()["id"]
    run_execute(run_id)
    return TaskRun.objects.get(pk=run_id)


def test_rejected_login_marks_the_credential_invalid(org, api, credential):
    credential_mark_verified(credential_id=credential.id)
    api.patch(f"/v2/credentials/{credential.id}", {"auth_credentials": {"password": "wrong-pw"}})
    run = run_with(api, org, credential, "login")
    assert run.status == "failed"
    assert run.errors[0]["code"] == "auth_invalid"
    assert status(credential) == "invalid"
    [event] = events("credential.invalid")
    assert Event.objects.filter(type="task_run.failed", data__id=run.id).exists()
    assert "wrong-pw" not in str(event.data)


def test_other_failures_leave_the_credential_alone(org, api, credential):
    run = run_with(api, org, credential, "fail page_changed")
    assert run.status == "failed"
    assert status(credential) == "unverified"
    assert not events("credential.invalid")
