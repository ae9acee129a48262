"""Entity fan-out: one run over many entities is a parent run with one child run per entity.

The parent is an ordinary run that never executes (``held`` forever, never dispatched): it
holds the input's vault tokens, the session the children share, and, when its last child
has ended, the aggregate. Children are created ``held`` in batches (``bulk_create`` over a
keyset walk of the entity ids, never the whole list in memory) and released a few at a time:
at most ``DECK_FANOUT_MAX_PER_CREDENTIAL`` unfinished released children per credential and
``DECK_FANOUT_MAX_PER_SOURCE`` per source. The run lifecycle calls ``fanout_transitioned``
inside the transaction of every status change of a child or parent, so a child's end, the
release of the next child and the parent's end commit together.

The parent's output (it does not follow the task's output_schema, which describes one
entity's result): ``{"entities": {"total", "completed", "failed", "canceled"},
"results": [{"entity_id", "task_run_id", "status", "output"}] | null}``; ``results`` is
inlined up to ``INLINE_RESULTS`` children, beyond that it is null and the children are
listed with ``GET /v2/task-runs?parent_id=…``. The parent completes when every child
completed; otherwise it fails, its ``errors`` holding a summary and the first failures.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, prefetch_related_objects
from django.utils import timezone

from deck.events.models import Event
from deck.ids import new_run_id
from deck.models import Organization
from tasks import selectors
from tasks.definitions import file_inputs
from tasks.errors import InvalidInput, NotFound
from tasks.models import Entity, Source, TaskRun
from tasks.runs import run_create, run_dispatch, run_transition, session_release
from tasks.schemas import run_event_data

S = TaskRun.Status
BATCH = 500
INLINE_RESULTS = 100
ERRORS_KEPT = 20
ATTRIBUTE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
UNFINISHED = (S.QUEUED, S.RUNNING, S.INTERACTION_REQUIRED, S.REVIEW_REQUIRED, S.CANCELING)


# -- creation -----------------------------------------------------------------------------


def _explicit_ids(
    organization: Organization, credential_id: str, entity_ids: list[str]
) -> Iterator[list[str]]:
    """The requested ids in batches, each checked against the credential's entities."""
    ordered = list(dict.fromkeys(entity_ids))
    for start in range(0, len(ordered), BATCH):
        chunk = ordered[start : start + BATCH]
        found = set(
            Entity.objects.filter(
                organization=organization, credential_id=credential_id, pk__in=chunk
            ).values_list("id", flat=True)
        )
        for entity_id in chunk:
            if entity_id not in found:
                # As for a run on one entity (selectors.entities_for_run): the message names it.
                raise NotFound("entity", entity_id, field="entity_ids")
        yield chunk


def _filtered_ids(
    organization: Organization, credential_id: str, entity_filter: Mapping[str, Any]
) -> Iterator[list[str]]:
    """The credential's entities matching the filter, by keyset over the id: one batch in
    memory at a time however many there are."""
    entities = Entity.objects.filter(organization=organization, credential_id=credential_id)
    if entity_filter.get("type"):
        entities = entities.filter(type=entity_filter["type"])
    for name, value in (entity_filter.get("attributes") or {}).items():
        entities = entities.filter(**{f"attributes__{name}": value})
    last = ""
    while True:
        chunk = list(
            entities.filter(pk__gt=last).order_by("pk").values_list("id", flat=True)[:BATCH]
        )
        if not chunk:
            return
        yield chunk
        last = chunk[-1]


def _check_filter(entity_filter: Mapping[str, Any]) -> None:
    attributes = entity_filter.get("attributes") or {}
    for name, value in attributes.items():
        # The name becomes a key lookup: "__" would let it choose a lookup instead.
        if not ATTRIBUTE_NAME.match(name) or "__" in name:
            raise InvalidInput(
                f"entity_filter.attributes: {name!r} is not an attribute name.",
                field=f"entity_filter.attributes.{name}",
            )
        if isinstance(value, (dict, list)):
            raise InvalidInput(
                "entity_filter.attributes values are strings, numbers, booleans or null.",
                field=f"entity_filter.attributes.{name}",
            )


def fanout_create(
    *,
    organization: Organization,
    task_id: str,
    input: Mapping[str, Any],
    credential_id: str | None,
    source_id: str | None,
    session_id: str | None,
    entity_ids: list[str] | None,
    entity_filter: Mapping[str, Any] | None,
) -> TaskRun:
    """Atomic: the parent (created and checked like any run, then ``running``), every child
    (``held``, with its ``task_run.queued`` event) and the first released children commit
    together; nothing is created when an entity is unknown or nothing matches."""
    task = selectors.task_get(organization=organization, task_id=task_id)
    if file_inputs(task.input_schema):
        raise InvalidInput(
            "A run over several entities takes no file inputs; run each entity on its own.",
            field="entity_ids",
        )
    if entity_filter is not None:
        _check_filter(entity_filter)
    with transaction.atomic():
        parent = run_create(
            organization=organization,
            task_id=task_id,
            input=input,
            credential_id=credential_id,
            source_id=source_id,
            session_id=session_id,
            links={"held": True},
        )
        if parent.credential_id is None and entity_ids:
            # Without a login there are no entities (as for a run on one entity).
            raise NotFound("entity", entity_ids[0], field="entity_ids")
        if parent.credential_id is None:
            raise InvalidInput(
                "Entities belong to a credential: give credential_id or session_id.",
                field="credential_id",
            )
        batches = (
            _filtered_ids(organization, parent.credential_id, entity_filter)
            if entity_filter is not None
            else _explicit_ids(organization, parent.credential_id, entity_ids or [])
        )
        total = 0
        for chunk in batches:
            total += len(chunk)
            if total > settings.DECK_FANOUT_MAX_ENTITIES:
                raise InvalidInput(
                    f"A run fans out over at most {settings.DECK_FANOUT_MAX_ENTITIES} "
                    "entities; narrow entity_filter.",
                    field="entity_filter" if entity_filter is not None else "entity_ids",
                )
            _children_create(parent, chunk)
        if not total:
            raise InvalidInput(
                "No entity of this credential matches entity_filter.", field="entity_filter"
            )
        now = timezone.now()
        moved = run_transition(
            parent.id, from_statuses=[S.QUEUED], to=S.RUNNING, started_at=now, dispatched_at=now
        )
        fanout_release(source_id=parent.source_id)
    return moved or parent


def _children_create(parent: TaskRun, entity_ids: list[str]) -> None:
    children = TaskRun.objects.bulk_create(
        [
            TaskRun(
                id=new_run_id(),
                organization_id=parent.organization_id,
                task_id=parent.task_id,
                agent_id=parent.agent_id,
                source_id=parent.source_id,
                credential_id=parent.credential_id,
                session_id=parent.session_id,
                parent=parent,
                held=True,
                entity_ids=[entity_id],
                input=parent.input,
                tokenized=parent.tokenized,
            )
            for entity_id in entity_ids
        ]
    )
    # New runs have no storage items: one prefetch for the batch, not a query per event.
    prefetch_related_objects(children, "storage_items")
    Event.objects.bulk_create(
        [
            Event(
                organization_id=parent.organization_id,
                type="task_run.queued",
                data=run_event_data(child),
            )
            for child in children
        ]
    )


# -- slots --------------------------------------------------------------------------------


def fanout_release(*, source_id: str) -> list[str]:
    """Call inside a transaction. Releases held children of the source's running parents,
    oldest parent first, while the per-source and per-credential bounds allow; they are
    dispatched after commit. The source row lock makes concurrent releases take turns."""
    Source.objects.select_for_update().filter(pk=source_id).first()
    released_active = TaskRun.objects.filter(
        source_id=source_id, held=False, status__in=UNFINISHED, parent__isnull=False
    )
    free_on_source = settings.DECK_FANOUT_MAX_PER_SOURCE - released_active.count()
    if free_on_source <= 0:
        return []
    parents = TaskRun.objects.filter(
        source_id=source_id, held=True, parent__isnull=True, status=S.RUNNING
    ).order_by("created_at", "id")
    per_credential: dict[str, int] = {}
    released: list[str] = []
    for parent in parents.only("id", "credential_id"):
        credential_id = str(parent.credential_id)
        if credential_id not in per_credential:
            per_credential[credential_id] = released_active.filter(
                credential_id=credential_id
            ).count()
        wanted = min(
            free_on_source, settings.DECK_FANOUT_MAX_PER_CREDENTIAL - per_credential[credential_id]
        )
        if wanted <= 0:
            continue
        ids = list(
            TaskRun.objects.filter(parent=parent, status=S.QUEUED, held=True)
            .order_by("created_at", "id")
            .values_list("id", flat=True)[:wanted]
        )
        TaskRun.objects.filter(pk__in=ids, held=True).update(held=False, dispatched_at=None)
        released += ids
        free_on_source -= len(ids)
        per_credential[credential_id] += len(ids)
        if free_on_source <= 0:
            break
    if released:
        transaction.on_commit(lambda: [run_dispatch(run_id) for run_id in released])
    return released


# -- chaining in the worker ---------------------------------------------------------------

# A job's soft time limit is its run's timeout plus 5 s (tasks.runs.run_dispatch), and the
# children of one parent share their task's timeout: a child started within this many seconds
# of the job's start ends (by its own deadline at worst) inside the job's limits.
CHAIN_SECONDS = 4.0


def fanout_continue(run_id: str, *, started: float) -> int:
    """After a worker ran a fan-out child: runs the next released child on the same
    credential in this job instead of waiting for the broker to deliver it, while the job is
    young enough (``CHAIN_SECONDS``). The child's own message arrives later and finds it
    claimed. Returns how many children ran here."""
    from tasks.execution import BUSY, run_execute  # the worker side imports this module

    done = TaskRun.objects.filter(pk=run_id).values("credential_id", "parent_id").first()
    if done is None or done["parent_id"] is None or done["credential_id"] is None:
        return 0
    ran = 0
    while time.monotonic() - started < CHAIN_SECONDS:
        next_id = (
            TaskRun.objects.filter(
                credential_id=done["credential_id"],
                parent__isnull=False,
                held=False,
                status=S.QUEUED,
            )
            .order_by("created_at", "id")
            .values_list("id", flat=True)
            .first()
        )
        if next_id is None or run_execute(next_id) in (BUSY, "skipped"):
            break
        ran += 1
    return ran


# -- the lifecycle hook -------------------------------------------------------------------


def fanout_transitioned(run: TaskRun) -> None:
    """Called by ``run_transition`` inside the transaction of every status change of a
    fan-out parent or child."""
    if run.parent_id is None:
        if run.status == S.CANCELING:
            # After commit, each child in a transaction of its own: a child's end locks the
            # child, then its parent; canceling the children inside the parent's transaction
            # would take the locks the other way round (a deadlock on PostgreSQL).
            parent_id = run.id
            transaction.on_commit(lambda: fanout_cancel_children(parent_id=parent_id))
        return
    if run.status not in TaskRun.TERMINAL:
        return
    # The parent's row lock: children ending at once take turns, so the last one sees all
    # the others ended and exactly one ends the parent.
    parent = TaskRun.objects.select_for_update().filter(pk=run.parent_id).first()
    if parent is None:
        return
    fanout_release(source_id=run.source_id)
    if parent.is_terminal:
        return
    if not TaskRun.objects.filter(parent=parent, status__in=UNFINISHED).exists():
        _parent_finish(parent)


def fanout_cancel_children(*, parent_id: str) -> None:
    """The parent is canceling: held children are canceled in bulk (they never started),
    released ones like any run; the last to end ends the parent. Idempotent: the sweeper
    calls it again for a parent left canceling (``fanouts_sweep``)."""
    if not TaskRun.objects.filter(pk=parent_id, status=S.CANCELING).exists():
        return
    now = timezone.now()
    held = TaskRun.objects.filter(parent_id=parent_id, status=S.QUEUED, held=True)
    while True:
        with transaction.atomic():
            ids = list(held.values_list("id", flat=True)[:BATCH])
            if not ids:
                break
            TaskRun.objects.filter(pk__in=ids, status=S.QUEUED, held=True).update(
                status=S.CANCELED, canceled_at=now, finished_at=now, updated_at=now
            )
            canceled = TaskRun.objects.filter(pk__in=ids, status=S.CANCELED)
            Event.objects.bulk_create(
                [
                    Event(
                        organization_id=child.organization_id,
                        type="task_run.canceled",
                        data=run_event_data(child),
                    )
                    for child in canceled.prefetch_related("storage_items")
                ]
            )
    for child_id in TaskRun.objects.filter(parent_id=parent_id, status__in=UNFINISHED).values_list(
        "id", flat=True
    ):
        moved = run_transition(
            child_id,
            from_statuses=[S.QUEUED, S.INTERACTION_REQUIRED, S.REVIEW_REQUIRED],
            to=S.CANCELED,
            canceled_at=now,
            finished_at=now,
        )
        if moved is None:
            run_transition(child_id, from_statuses=[S.RUNNING], to=S.CANCELING, canceled_at=now)
    with transaction.atomic():
        parent = (
            TaskRun.objects.select_for_update().filter(pk=parent_id, status=S.CANCELING).first()
        )
        if parent and not TaskRun.objects.filter(parent=parent, status__in=UNFINISHED).exists():
            _parent_finish(parent)


def fanouts_sweep() -> int:
    """Beat (from the run sweeper): parents left canceling, e.g. by a crash between the
    parent's cancel and its children's, get their children canceled."""
    parents = TaskRun.objects.filter(parent__isnull=True, held=True, status=S.CANCELING)
    swept = 0
    for parent_id in parents.values_list("id", flat=True)[:100]:
        fanout_cancel_children(parent_id=parent_id)
        swept += 1
    return swept


def _parent_finish(parent: TaskRun) -> None:
    children = TaskRun.objects.filter(parent=parent)
    counts = dict(
        children.order_by().values_list("status").annotate(n=Count("id")).values_list("status", "n")
    )
    total = sum(counts.values())
    summary = {
        "total": total,
        "completed": counts.get(S.COMPLETED, 0),
        "failed": counts.get(S.FAILED, 0),
        "canceled": counts.get(S.CANCELED, 0),
    }
    results = None
    if total <= INLINE_RESULTS:
        results = [
            {
                "entity_id": entity_ids[0] if entity_ids else None,
                "task_run_id": run_id,
                "status": status,
                "output": output,
            }
            for run_id, entity_ids, status, output in children.order_by(
                "created_at", "id"
            ).values_list("id", "entity_ids", "status", "output")
        ]
    output = {"entities": summary, "results": results}
    now = timezone.now()
    started = parent.started_at or now
    timing: dict[str, Any] = {
        "finished_at": now,
        "runtime_ms": int((now - started).total_seconds() * 1000),
    }
    if parent.status == S.CANCELING:
        moved = run_transition(
            parent.id, from_statuses=[S.CANCELING], to=S.CANCELED, output=output, **timing
        )
    elif summary["completed"] == total:
        moved = run_transition(
            parent.id,
            from_statuses=[S.RUNNING],
            to=S.COMPLETED,
            output=output,
            result=TaskRun.Result.SUCCESS,
            **timing,
        )
    else:
        moved = run_transition(
            parent.id,
            from_statuses=[S.RUNNING],
            to=S.FAILED,
            output=output,
            result=TaskRun.Result.FAILURE,
            errors=_aggregated_errors(parent, summary),
            **timing,
        )
    if moved is not None:
        session_release(moved)


def _aggregated_errors(parent: TaskRun, summary: Mapping[str, int]) -> list[dict[str, Any]]:
    unfinished = summary["total"] - summary["completed"]
    errors: list[dict[str, Any]] = [
        {
            "type": "task",
            "code": "entities_failed",
            "message": f"{unfinished} of {summary['total']} entity runs did not complete "
            f"({summary['failed']} failed, {summary['canceled']} canceled).",
        }
    ]
    failed = (
        TaskRun.objects.filter(parent=parent, status=S.FAILED)
        .order_by("created_at", "id")
        .values_list("id", "entity_ids", "errors")[:ERRORS_KEPT]
    )
    for run_id, entity_ids, run_errors in failed:
        last = run_errors[-1] if run_errors else {"type": "task", "code": "failed", "message": ""}
        entity = entity_ids[0] if entity_ids else "?"
        errors.append(
            {
                "type": last.get("type", "task"),
                "code": last.get("code", "failed"),
                "message": f"Entity {entity} (run {run_id}): {last.get('message', '')}",
            }
        )
    return errors
