"""Learned playbooks end to end: real Chromium against the Brightwater sandbox portal on the
live test server, runs executed in process (``run_create`` + ``run_execute``) with the
heuristic planner, as a worker would."""

from __future__ import annotations

from typing import Any

import pyotp
import pytest

from tasks import services
from tasks.execution import run_execute
from tasks.models import Playbook, RunStep, Task, TaskRun
from tasks.runs import run_create
from tasks.sandbox.accounts import sandbox_logins, sandbox_primary_login
from tasks.sandbox.catalog import catalog_template
from tasks.sandbox.services import sandbox_layout_set
from tests.api.factories import make_agent

SLUG = "brightwater"
TEMPLATE = catalog_template("fetch_latest_bill")


@pytest.fixture
def brightwater(org, live_server, pool, settings) -> dict[str, Any]:
    settings.DECK_AGENT_PLANNER = ""
    settings.DECK_AGENT_SCREENSHOTS = False
    login = sandbox_primary_login(SLUG)
    source = services.source_create(
        organization=org, name="Brightwater", url=f"{live_server.url}/sandbox/{SLUG}/"
    )
    credential = services.credential_create(
        organization=org,
        source_id=source.id,
        auth_method="username_password",
        auth_credentials=login.auth_credentials(),
    )
    task = services.task_create(
        organization=org, agent_id=make_agent(org).id, **TEMPLATE.task_fields()
    )
    return {"task": task, "credential": credential, "login": login, "source": source}


def execute(org, fixture: dict[str, Any], *, account: str = "") -> TaskRun:
    account = account or fixture["login"].accounts[0].number
    run = run_create(
        organization=org,
        task_id=fixture["task"].id,
        input={"account_number": account},
        credential_id=fixture["credential"].id,
    )
    outcome = run_execute(run.id)
    run.refresh_from_db()
    if outcome != "finished":  # the trace, to see where the agent stopped
        for tool, detail in RunStep.objects.filter(run=run).values_list("tool", "detail"):
            print(tool, {k: v for k, v in detail.items() if k in ("target", "url", "error")})
    assert outcome == "finished", run.errors
    assert run.status == "completed", run.errors
    return run


def modes(run: TaskRun) -> set[str]:
    return {step.detail.get("mode") for step in RunStep.objects.filter(run=run)}


def status(fixture: dict[str, Any]) -> str:
    return Task.objects.get(pk=fixture["task"].pk).status


@pytest.mark.django_db(transaction=True)
def test_learn_replay_heal_and_reset(org, brightwater, api, stranger_api):
    task_id = brightwater["task"].id
    learned = [execute(org, brightwater) for _ in range(3)]
    assert all(modes(run) == {"explore"} for run in learned)
    output = learned[0].output
    assert isinstance(output["amount_due"], float)
    assert output["due_date"]
    assert output["billing_period"]["start_date"] < output["billing_period"]["end_date"]
    assert output["account_number"] == brightwater["login"].accounts[0].number
    assert status(brightwater) == "test"
    assert Playbook.objects.count() == 1  # three runs that did the same: one version
    playbook = Playbook.objects.get()
    assert playbook.recorded_from_run_id == learned[0].id

    tested = [execute(org, brightwater) for _ in range(3)]
    assert status(brightwater) == "live"
    assert all(modes(run) == {"replay"} for run in tested)
    live = execute(org, brightwater)
    assert modes(live) == {"replay"}  # no exploring at all
    assert live.output == output
    assert Playbook.objects.count() == 1

    # Nothing secret is in the Playbook table: the password, the TOTP seed, the current code;
    # nor the run's input (the account number, in the PDF's address too).
    login = brightwater["login"]
    dump = repr(list(Playbook.objects.values()))
    totp = pyotp.TOTP(login.totp_secret)
    for secret in (login.password, login.totp_secret, totp.now(), login.accounts[0].number):
        assert secret not in dump
    assert "{{credential.password}}" in dump
    assert "{{credential.totp}}" in dump

    listed = api.get(f"/v2/tasks/{task_id}/playbooks").json()
    assert [p["version"] for p in listed["data"]] == [1]
    assert stranger_api.get(f"/v2/tasks/{task_id}/playbooks").status_code == 404
    assert stranger_api.get(f"/v2/tasks/{task_id}/playbooks/1").status_code == 404

    # A redesign: the replay stops fitting, the explorer finishes the run, a healed version.
    sandbox_layout_set(slug=SLUG, layout="redesign")
    healed = execute(org, brightwater)
    assert healed.output == output
    assert modes(healed) == {"replay", "explore"}
    fallback = RunStep.objects.get(run=healed, tool="playbook")
    assert fallback.detail["playbook_version"] == 1
    latest = Playbook.objects.order_by("-version").first()
    assert latest is not None
    assert (latest.version, latest.healed_from_version) == (2, 1)
    assert latest.recorded_from_run_id == healed.id
    again = execute(org, brightwater)
    assert modes(again) == {"replay"}
    assert Playbook.objects.count() == 2

    # Reset forgets the playbooks; the next run explores (and learns version 1 again).
    assert api.post(f"/v2/tasks/{task_id}/reset").json()["playbook_versions"] == 0
    assert not Playbook.objects.exists()
    fresh = execute(org, brightwater)
    assert modes(fresh) == {"explore"}
    assert list(Playbook.objects.values_list("version", flat=True)) == [1]


@pytest.mark.django_db(transaction=True)
def test_a_playbook_learned_for_one_input_replays_for_another(org, live_server, pool, settings):
    """Cascade's account chooser: learned choosing one account, the live replay chooses the
    account each run's input names (its locators hold ``{{input.account_number}}``)."""
    settings.DECK_AGENT_PLANNER = ""
    settings.DECK_AGENT_SCREENSHOTS = False
    login = next(login for login in sandbox_logins("cascade") if login.multi_account)
    source = services.source_create(
        organization=org, name="Cascade", url=f"{live_server.url}/sandbox/cascade/"
    )
    credential = services.credential_create(
        organization=org,
        source_id=source.id,
        auth_method="username_password",
        auth_credentials=login.auth_credentials(),
    )
    task = services.task_create(
        organization=org, agent_id=make_agent(org).id, **TEMPLATE.task_fields()
    )
    fixture = {"task": task, "credential": credential, "login": login}

    learned = execute(org, fixture, account=login.accounts[2].number)
    assert modes(learned) == {"explore"}
    assert "{{input.account_number}}" in repr(Playbook.objects.get().steps)
    Task.objects.filter(pk=task.pk).update(status="live")
    for account in login.accounts[:2]:
        run = execute(org, fixture, account=account.number)
        assert modes(run) == {"replay"}
        assert run.output["account_number"] == account.number
    assert Playbook.objects.count() == 1
