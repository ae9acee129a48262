"""Recording, replay and healing on a small loopback portal, runs executed in process with the
heuristic planner in real Chromium (the sandbox portals are in ``test_playbooks.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tasks import services
from tasks.agent.browser import BrowserPool
from tasks.execution import run_execute
from tasks.models import Playbook, RunStep, Task, TaskRun
from tasks.runs import run_create
from tests.agent.portal import PASSWORD, USERNAME, Portal, portal_serving
from tests.api.factories import make_agent, make_task

OUTPUT_SCHEMA = {
    "type": "object",
    "properties": {
        "amount_due": {"type": "number", "description": "The amount due on the latest bill."},
        "due_date": {"type": "string", "format": "date", "description": "When it is due."},
    },
    "required": ["amount_due", "due_date"],
}


@pytest.fixture(scope="module")
def portal() -> Iterator[Portal]:
    with portal_serving() as serving:
        yield serving


@pytest.fixture
def setup(org, portal, pool: BrowserPool, settings):
    settings.DECK_AGENT_PLANNER = ""
    settings.DECK_AGENT_SCREENSHOTS = False
    portal.layout = "classic"
    source = services.source_create(organization=org, name="Portal", url=portal.url)
    credential = services.credential_create(
        organization=org,
        source_id=source.id,
        auth_method="username_password",
        auth_credentials={"username": USERNAME, "password": PASSWORD},
    )
    task = make_task(
        org,
        make_agent(org),
        name="Fetch my latest bill",
        prompt="Log in and fetch the amount due and the due date of my latest bill.",
        input_schema={"type": "object", "properties": {}},
        output_schema=OUTPUT_SCHEMA,
    )
    return task, credential


def execute(org, task: Task, credential) -> TaskRun:
    run = run_create(organization=org, task_id=task.id, input={}, credential_id=credential.id)
    assert run_execute(run.id) == "finished"
    run.refresh_from_db()
    return run


def modes(run: TaskRun) -> set[str]:
    return {step.detail.get("mode") for step in RunStep.objects.filter(run=run)}


def test_learns_replays_and_heals(org, setup, portal):
    task, credential = setup
    first = execute(org, task, credential)
    assert first.status == "completed", first.errors
    assert first.output == {"amount_due": 84.12, "due_date": "2025-02-01"}
    assert modes(first) == {"explore"}
    playbook = Playbook.objects.get()
    assert playbook.version == 1
    assert playbook.recorded_from_run_id == first.id
    steps = playbook.steps
    assert steps[-1]["tool"] == "output"
    assert steps[-1]["fields"]["amount_due"]["from"] == "pair"
    click = next(s for s in steps if s["tool"] == "click" and s["expect"] == "/home")
    # Locators in order of preference, each verified on the page: role+name … CSS last.
    assert click["targets"][0] == {"role": "link", "name": "Billing"}
    assert click["targets"][-1] == {"css": "#nav-bill"}
    assert PASSWORD not in str(steps)
    assert "{{credential.password}}" in str(steps)

    # A second exploring run does the same: no new version.
    assert execute(org, task, credential).status == "completed"
    assert Playbook.objects.count() == 1

    Task.objects.filter(pk=task.pk).update(status="live")
    replayed = execute(org, task, credential)
    assert replayed.status == "completed", replayed.errors
    assert replayed.output == first.output
    assert modes(replayed) == {"replay"}
    assert Playbook.objects.count() == 1

    portal.layout = "redesign"
    healed = execute(org, task, credential)
    assert healed.status == "completed", healed.errors
    assert healed.output == first.output
    assert modes(healed) == {"replay", "explore"}
    fallback = RunStep.objects.get(run=healed, tool="playbook")
    assert fallback.detail["fallback"] is True
    latest = Playbook.objects.order_by("-version").first()
    assert latest is not None
    assert (latest.version, latest.healed_from_version) == (2, 1)
    assert latest.recorded_from_run_id == healed.id

    # The healed version replays on the new layout without exploring.
    again = execute(org, task, credential)
    assert again.status == "completed", again.errors
    assert modes(again) == {"replay"}
    assert Playbook.objects.count() == 2


CARD = "4242424242424242"
FORM = """<!doctype html><html><head><title>Pay</title></head><body><h1>Pay</h1>
<p><a id="acct" href="/accounts/ACCT-7781-2290/">Account ACCT-7781-2290</a></p>
<form onsubmit="event.preventDefault(); document.getElementById('out').textContent = 'Paid';">
  <label for="card">Card number</label><input id="card" name="card">
  <label for="memo">Memo</label><input id="memo" name="memo">
  <button>Pay now</button>
</form><p id="out"></p></body></html>"""


def test_recorded_steps_hold_placeholders_not_inputs_or_secrets(pool):
    """A tokenized input typed into a field and an input shown in a link's text and address:
    the steps keep placeholders; a literal secret makes the run unlearnable."""
    from tasks.agent.playbook import RecordingHarness
    from tests.agent.conftest import bare_context, page_url

    context = bare_context(
        input_schema={"type": "object", "properties": {}, "tokenized": ["card"]},
        input={"card": CARD, "account": "ACCT-7781-2290"},
        output_schema={"type": "object", "properties": {}},
        secrets={CARD, "hunter2-secret"},
    )
    with RecordingHarness(context, pool=pool, screenshots=False) as harness:
        harness.goto(page_url(FORM))
        harness.type({"label": "Card number"}, "{{input.card}}")
        harness.type({"label": "Memo"}, CARD[:4])  # a literal, not a secret
        harness.click({"role": "button", "name": "Pay now"})
        steps = harness.playbook_steps({})
        assert steps is not None
        assert CARD not in repr(steps)
        assert "ACCT-7781-2290" not in repr(steps)
        assert steps[1]["value"] == "{{input.card}}"
        assert steps[1]["targets"] == [
            {"role": "textbox", "name": "Card number"},
            {"label": "Card number"},
            {"css": "#card"},
        ]
        assert steps[2]["value"] == "4242"

        harness.click({"css": "#acct"})
        link = harness.recorded[-1]["targets"]
        assert link[0] == {"role": "link", "name": "Account {{input.account}}"}
        assert {"href": "/accounts/{{input.account}}/"} in link

    with RecordingHarness(context, pool=pool, screenshots=False) as harness:
        harness.goto(page_url(FORM))
        harness.type({"label": "Card number"}, CARD)  # a literal equal to an input
        assert harness.recorded[-1]["value"] == "{{input.card}}"
        # A secret the run revealed that no placeholder stands for: nothing is learned.
        harness.type({"label": "Memo"}, "hunter2-secret")
        assert harness.playbook_steps({}) is None
