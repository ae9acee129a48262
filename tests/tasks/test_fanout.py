"""Entity fan-out in process: the API creates the parent and its children, ``run_execute``
plays the worker, a planner that reports the entity it was given plays the agent."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.utils import timezone

from deck.events.models import Event
from deck.vault.models import VaultToken
from tasks.agent.runtime import AgentFailure, RunContext
from tasks.execution import run_execute, runs_sweep
from tasks.fanout import fanout_continue
from tasks.models import Entity, TaskRun
from tasks.services import entities_record
from tests.api.factories import make_credential, make_source, make_task
from tests.api.test_resources import database_dump

pytestmark = pytest.mark.django_db

CARD = "4111111111111111"


class EntityPlanner:
    """Reports the entity the run is scoped to; fails for the external ids in input.fail."""

    def run(self, context: RunContext) -> dict[str, Any]:
        assert len(context.entities) == 1, context.entities
        entity = context.entities[0]
        context.step("read", {"entity": entity["external_id"]})
        if entity["external_id"] in context.input.get("fail", []):
            raise AgentFailure("The account page did not load.", code="page_missing")
        return {"account": entity["external_id"], "has_card": context.input.get("card") == CARD}


@pytest.fixture(autouse=True)
def entity_planner(settings):
    settings.DECK_AGENT_PLANNER = "tests.tasks.test_fanout.EntityPlanner"
    settings.DECK_FANOUT_MAX_PER_CREDENTIAL = 1
    settings.DECK_FANOUT_MAX_PER_SOURCE = 8


@pytest.fixture
def source(org):
    return make_source(org)


@pytest.fixture
def credential(org, source):
    return make_credential(org, source)


@pytest.fixture
def task(org):
    return make_task(
        org,
        prompt="Read the account page.",
        input_schema={
            "type": "object",
            "properties": {
                "card": {"type": "string"},
                "fail": {"type": "array", "items": {"type": "string"}},
            },
            "tokenized": ["card"],
        },
        output_schema={
            "type": "object",
            "properties": {"account": {"type": "string"}, "has_card": {"type": "boolean"}},
        },
    )


def accounts(credential, count: int, prefix: str = "A") -> list[Entity]:
    found = [
        {
            "type": "account",
            "external_id": f"{prefix}-{n}",
            "name": f"Account {n}",
            "attributes": {"region": "north" if n % 2 else "south"},
        }
        for n in range(count)
    ]
    return entities_record(credential_id=credential.id, found=found)


def fan_out(api, task, credential, **body):
    response = api.post(
        f"/v2/tasks/{task.id}/run", {"credential_id": credential.id, "input": {}, **body}
    )
    assert response.status_code == 201, response.json()
    return response.json()


def released(**filters) -> TaskRun | None:
    return (
        TaskRun.objects.filter(
            parent__isnull=False, held=False, status=TaskRun.Status.QUEUED, **filters
        )
        .order_by("created_at")
        .first()
    )


def drain(limit: int = 200, observe=None) -> None:
    for _ in range(limit):
        if observe:
            observe()
        child = released()
        if child is None:
            return
        assert run_execute(child.id) != "busy"
    raise AssertionError("children kept coming")


def test_fan_out_over_entity_ids_aggregates_in_the_parent(org, api, task, credential):
    entities = accounts(credential, 4)
    parent = fan_out(
        api,
        task,
        credential,
        entity_ids=[entity.id for entity in entities],
        input={"card": CARD},
    )
    assert parent["status"] == "running"
    assert parent["entity_ids"] == []
    children = api.get(f"/v2/task-runs?parent_id={parent['id']}&limit=100").json()["data"]
    assert len(children) == 4
    assert {child["parent_id"] for child in children} == {parent["id"]}
    assert {child["session_id"] for child in children} == {parent["session_id"]}
    assert sorted(child["entity_ids"][0] for child in children) == sorted(e.id for e in entities)
    assert all(child["tokenized"] == ["card"] for child in children)
    drain()

    done = TaskRun.objects.get(pk=parent["id"])
    assert done.status == "completed"
    assert done.result == "success"
    assert done.output["entities"] == {"total": 4, "completed": 4, "failed": 0, "canceled": 0}
    results = done.output["results"]
    assert [result["entity_id"] for result in results] == [e.id for e in entities]
    # Each child ran on its own entity with the parent's tokenized input restored.
    assert [result["output"] for result in results] == [
        {"account": f"A-{n}", "has_card": True} for n in range(4)
    ]
    assert CARD not in database_dump()
    # The parent's vault token went when its last child ended.
    assert not VaultToken.objects.filter(purpose="task_run.input").exists()
    parent_events = Event.objects.filter(data__id=parent["id"]).order_by("created_at", "id")
    assert list(parent_events.values_list("type", flat=True)) == [
        "task_run.queued",
        "task_run.running",
        "task_run.completed",
    ]
    assert Event.objects.filter(type="task_run.completed").count() == 5


def test_a_failed_child_fails_the_parent_with_aggregated_errors(org, api, task, credential):
    entities = accounts(credential, 3)
    parent = fan_out(
        api,
        task,
        credential,
        entity_ids=[entity.id for entity in entities],
        input={"fail": ["A-1"]},
    )
    drain()
    done = TaskRun.objects.get(pk=parent["id"])
    assert done.status == "failed"
    assert done.output["entities"] == {"total": 3, "completed": 2, "failed": 1, "canceled": 0}
    assert done.errors[0]["code"] == "entities_failed"
    assert "1 of 3" in done.errors[0]["message"]
    assert done.errors[1]["code"] == "page_missing"
    assert entities[1].id in done.errors[1]["message"]
    statuses = {result["entity_id"]: result["status"] for result in done.output["results"]}
    assert statuses[entities[1].id] == "failed"


def test_concurrency_bounds_per_credential_and_per_source(settings, org, api, task, source):
    settings.DECK_FANOUT_MAX_PER_CREDENTIAL = 2
    settings.DECK_FANOUT_MAX_PER_SOURCE = 3
    first, second = make_credential(org, source), make_credential(org, source)
    accounts(first, 5, "F")
    accounts(second, 5, "S")
    parents = [
        fan_out(api, task, first, entity_filter={"type": "account"}),
        fan_out(api, task, second, entity_filter={"type": "account"}),
    ]
    unfinished = [s for s in TaskRun.Status.values if s not in TaskRun.TERMINAL]
    active = TaskRun.objects.filter(parent__isnull=False, held=False, status__in=unfinished)
    # The first parent took its credential's 2 slots, the second the source's last one.
    assert active.filter(credential=first).count() == 2
    assert active.filter(credential=second).count() == 1
    peaks = {"source": 0, first.id: 0, second.id: 0}

    def observe() -> None:
        peaks["source"] = max(peaks["source"], active.count())
        for credential in (first, second):
            peaks[credential.id] = max(
                peaks[credential.id], active.filter(credential=credential).count()
            )

    drain(observe=observe)
    assert peaks == {"source": 3, first.id: 2, second.id: 2}
    for parent in parents:
        assert TaskRun.objects.get(pk=parent["id"]).status == "completed"
    assert TaskRun.objects.filter(parent__isnull=False, status="completed").count() == 10


def test_entity_filter_matches_type_and_attributes(org, api, task, credential):
    accounts(credential, 6)
    entities_record(
        credential_id=credential.id,
        found=[{"type": "meter", "external_id": "M-1", "attributes": {"region": "north"}}],
    )
    parent = fan_out(
        api, task, credential, entity_filter={"type": "account", "attributes": {"region": "north"}}
    )
    children = TaskRun.objects.filter(parent_id=parent["id"])
    matched = Entity.objects.filter(pk__in=[child.entity_ids[0] for child in children])
    assert sorted(matched.values_list("external_id", flat=True)) == ["A-1", "A-3", "A-5"]

    nothing = api.post(
        f"/v2/tasks/{task.id}/run",
        {"credential_id": credential.id, "entity_filter": {"type": "policy"}},
    )
    assert nothing.status_code == 400
    assert nothing.json()["errors"][0]["field"] == "entity_filter"
    bad = api.post(
        f"/v2/tasks/{task.id}/run",
        {"credential_id": credential.id, "entity_filter": {"attributes": {"a__contains": "x"}}},
    )
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "entity_filter.attributes.a__contains"


def test_unknown_or_foreign_entities_create_nothing(org, other_org, api, task, credential):
    mine = accounts(credential, 2)
    theirs = accounts(make_credential(other_org), 1, "X")
    other_login = accounts(make_credential(org), 1, "O")
    for stranger, index in ((theirs[0], 1), (other_login[0], 2)):
        ids = [mine[0].id, stranger.id] if index == 1 else [mine[0].id, mine[1].id, stranger.id]
        response = api.post(
            f"/v2/tasks/{task.id}/run", {"credential_id": credential.id, "entity_ids": ids}
        )
        assert response.status_code == 404, response.json()
        error = response.json()["errors"][0]
        assert (error["code"], error["field"]) == ("entity_not_found", "entity_ids")
        assert stranger.id in error["message"]
    assert not TaskRun.objects.exists()


def test_cancel_parent_cancels_every_child(
    org, api, task, credential, django_capture_on_commit_callbacks
):
    entities = accounts(credential, 3)
    # More than a creation batch of children, recorded directly like a big discovery would.
    now = timezone.now()
    Entity.objects.bulk_create(
        Entity(
            organization=org,
            credential=credential,
            source_id=credential.source_id,
            type="account",
            external_id=f"B-{n}",
            first_seen_at=now,
            last_seen_at=now,
        )
        for n in range(1200)
    )
    parent = fan_out(api, task, credential, entity_filter={"type": "account"})
    children = TaskRun.objects.filter(parent_id=parent["id"])
    assert children.count() == 1203
    assert children.filter(held=False).count() == 1  # one slot on the credential
    first = released()
    run_execute(first.id)
    assert TaskRun.objects.get(pk=first.id).status == "completed"
    assert entities  # recorded before the bulk ones

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/v2/task-runs/{parent['id']}/cancel")
    assert response.status_code == 200, response.json()
    assert TaskRun.objects.get(pk=parent["id"]).status == "canceled"
    assert children.filter(status="canceled").count() == 1202
    assert children.filter(status="completed").count() == 1
    assert Event.objects.filter(type="task_run.canceled").count() == 1203
    done = TaskRun.objects.get(pk=parent["id"])
    assert done.output["entities"]["canceled"] == 1202
    assert done.output["results"] is None  # too many to inline: list them by parent_id
    assert released() is None


def test_a_single_entity_id_is_an_ordinary_run(org, api, task, credential):
    entity = accounts(credential, 1)[0]
    run = fan_out(api, task, credential, entity_ids=[entity.id])
    assert run["entity_ids"] == [entity.id]
    assert run["parent_id"] is None
    assert not TaskRun.objects.filter(parent__isnull=False).exists()


def test_a_worker_chains_the_next_released_child_of_its_credential(org, api, task, credential):
    entities = accounts(credential, 3)
    parent = fan_out(api, task, credential, entity_ids=[entity.id for entity in entities])
    first = released()
    started = time.monotonic()
    assert run_execute(first.id) == "finished"
    assert fanout_continue(first.id, started=started) == 2
    assert TaskRun.objects.get(pk=parent["id"]).status == "completed"
    # A job that is too old to fit another child's timeout leaves it to the broker.
    again = fan_out(api, task, credential, entity_ids=[entity.id for entity in entities[:2]])
    child = released()
    run_execute(child.id)
    assert fanout_continue(child.id, started=time.monotonic() - 60) == 0
    assert TaskRun.objects.get(pk=again["id"]).status == "running"


def test_the_sweeper_finishes_a_cancel_left_half_done(org, api, task, credential):
    """Without the after-commit step (a crash), the parent stays canceling with its children
    unfinished; the sweeper cancels them and ends the parent."""
    entities = accounts(credential, 3)
    parent = fan_out(api, task, credential, entity_ids=[entity.id for entity in entities])
    assert api.post(f"/v2/task-runs/{parent['id']}/cancel").status_code == 200
    assert TaskRun.objects.get(pk=parent["id"]).status == "canceling"
    assert TaskRun.objects.filter(parent_id=parent["id"], status="queued").count() == 3
    assert runs_sweep()["fanouts_canceled"] == 1
    assert TaskRun.objects.get(pk=parent["id"]).status == "canceled"
    assert TaskRun.objects.filter(parent_id=parent["id"], status="canceled").count() == 3
