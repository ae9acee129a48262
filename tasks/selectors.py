"""Reads for agents, sources, credentials and tasks, always scoped to one organization."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Min, Prefetch, Q, QuerySet
from django.db.models.functions import TruncDay, TruncHour

from deck.events.models import Event
from deck.models import Organization
from tasks.errors import InvalidInput, NotFound
from tasks.models import (
    Agent,
    Credential,
    Entity,
    Playbook,
    RunStep,
    Session,
    Source,
    Task,
    TaskRun,
    Workflow,
    WorkflowRun,
)


def agent_list(*, organization: Organization) -> QuerySet[Agent]:
    tasks = Task.objects.only("id", "name", "status", "agent_id").order_by("created_at")
    return Agent.objects.filter(organization=organization).prefetch_related(
        Prefetch("tasks", queryset=tasks)
    )


def agent_get(*, organization: Organization, agent_id: str, field: str | None = None) -> Agent:
    agent = agent_list(organization=organization).filter(id=agent_id).first()
    if agent is None:
        raise NotFound("agent", agent_id, field=field)
    return agent


def source_list(*, organization: Organization) -> QuerySet[Source]:
    return Source.objects.filter(organization=organization)


def source_get(*, organization: Organization, source_id: str, field: str | None = None) -> Source:
    source = source_list(organization=organization).filter(id=source_id).first()
    if source is None:
        raise NotFound("source", source_id, field=field)
    return source


def credential_list(
    *,
    organization: Organization,
    source_id: str | None = None,
    status: str | None = None,
    external_id: str | None = None,
) -> QuerySet[Credential]:
    credentials = Credential.objects.filter(organization=organization)
    if source_id:
        credentials = credentials.filter(source_id=source_id)
    if status:
        credentials = credentials.filter(status=status)
    if external_id:
        credentials = credentials.filter(external_id=external_id)
    return credentials


def credential_get(
    *, organization: Organization, credential_id: str, for_update: bool = False
) -> Credential:
    credentials = credential_list(organization=organization).select_related("organization")
    if for_update:
        credentials = credentials.select_for_update()
    credential = credentials.filter(id=credential_id).first()
    if credential is None:
        raise NotFound("credential", credential_id)
    return credential


def entity_list(
    *, organization: Organization, credential_id: str | None = None, type: str | None = None
) -> QuerySet[Entity]:
    entities = Entity.objects.filter(organization=organization)
    if credential_id:
        entities = entities.filter(credential_id=credential_id)
    if type:
        entities = entities.filter(type=type)
    return entities


def entity_get(*, organization: Organization, entity_id: str) -> Entity:
    entity = entity_list(organization=organization).filter(id=entity_id).first()
    if entity is None:
        raise NotFound("entity", entity_id)
    return entity


def entities_for_run(
    *, organization: Organization, credential_id: str | None, entity_ids: list[str]
) -> list[Entity]:
    """The entities ``entity_ids`` names, in that order, if every one belongs to the
    organization and to ``credential_id``; the first that does not is a ``NotFound``."""
    found = (
        {
            entity.id: entity
            for entity in Entity.objects.filter(
                organization=organization, credential_id=credential_id, id__in=entity_ids
            )
        }
        if credential_id
        else {}
    )
    for entity_id in entity_ids:
        if entity_id not in found:
            raise NotFound("entity", entity_id, field="entity_ids")
    return [found[entity_id] for entity_id in entity_ids]


def task_list(
    *,
    organization: Organization,
    agent_id: str | None = None,
    status: str | None = None,
    type: str | None = None,
    scope: str | None = None,
) -> QuerySet[Task]:
    tasks = Task.objects.filter(organization=organization)
    if agent_id:
        tasks = tasks.filter(agent_id=agent_id)
    if status:
        tasks = tasks.filter(status=status)
    if type:
        tasks = tasks.filter(type=type)
    if scope:
        tasks = tasks.filter(scope=scope)
    return tasks


def task_get(*, organization: Organization, task_id: str, for_update: bool = False) -> Task:
    tasks = task_list(organization=organization)
    if for_update:
        tasks = tasks.select_for_update()
    task = tasks.filter(id=task_id).first()
    if task is None:
        raise NotFound("task", task_id)
    return task


def run_list(
    *, organization: Organization, filters: dict[str, object] | None = None
) -> QuerySet[TaskRun]:
    runs = TaskRun.objects.filter(organization=organization).prefetch_related("storage_items")
    for name, value in (filters or {}).items():
        if value in (None, "", []):
            continue
        if name in {"status", "result"}:
            runs = runs.filter(**{f"{name}__in": value})
        elif name == "created_after":
            runs = runs.filter(created_at__gt=value)
        elif name == "created_before":
            runs = runs.filter(created_at__lt=value)
        elif name == "workflow_id":
            runs = runs.filter(workflow_id=value)
        else:
            runs = runs.filter(**{name: value})
    return runs


def run_get(*, organization: Organization, run_id: str) -> TaskRun:
    run = TaskRun.objects.filter(organization=organization, pk=run_id).first()
    if run is None:
        raise NotFound("task_run", run_id)
    return run


def run_screenshots(
    *, organization: Organization, run_id: str, after: int = 0
) -> QuerySet[RunStep]:
    """The run's steps that have a screenshot, oldest first (after sequence ``after``)."""
    run = run_get(organization=organization, run_id=run_id)
    steps = RunStep.objects.filter(run=run, sequence__gt=after).exclude(screenshot="")
    return steps.order_by("sequence")


def session_list(*, organization: Organization, status: str | None = None) -> QuerySet[Session]:
    sessions = Session.objects.filter(organization=organization)
    return sessions.filter(status=status) if status else sessions


def session_get(*, organization: Organization, session_id: str) -> Session:
    session = Session.objects.filter(organization=organization, pk=session_id).first()
    if session is None:
        raise NotFound("session", session_id)
    return session


def task_find_any(*, task_id: str) -> Task | None:
    """A task by id in any organization: for operator commands only, never for the API."""
    return Task.objects.select_related("organization").filter(pk=task_id).first()


def run_steps_after(*, run: TaskRun, sequence: int) -> list[RunStep]:
    return list(run.steps.filter(sequence__gt=sequence).order_by("sequence"))


def run_event_list(*, organization: Organization, run_id: str) -> QuerySet[Event]:
    """The events about one run (their ``data.id`` is the run's id), oldest first."""
    return Event.objects.filter(organization=organization, data__id=run_id).order_by(
        "created_at", "id"
    )


# -- dashboard aggregations ---------------------------------------------------------------


@dataclass(frozen=True)
class RunVolume:
    """Runs created per time bucket, split by status: ``counts[bucket][status]``."""

    buckets: list[datetime]
    counts: dict[datetime, dict[str, int]]


def run_volume(
    *, organization: Organization, since: datetime, until: datetime, unit: str
) -> RunVolume:
    """Runs created in [since, until) per ``unit`` ("hour" or "day"), by status: one grouped
    query on the (organization, created_at) index, empty buckets filled in here."""
    trunc = {"hour": TruncHour, "day": TruncDay}[unit]
    step = timedelta(hours=1) if unit == "hour" else timedelta(days=1)
    rows = (
        TaskRun.objects.filter(
            organization=organization, created_at__gte=since, created_at__lt=until
        )
        .annotate(bucket=trunc("created_at"))
        .values("bucket", "status")
        .annotate(count=Count("id"))
        .order_by()
    )
    start = since.replace(minute=0, second=0, microsecond=0)
    if unit == "day":
        start = start.replace(hour=0)
    buckets = []
    cursor = start
    while cursor < until:
        buckets.append(cursor)
        cursor += step
    counts: dict[datetime, dict[str, int]] = {bucket: {} for bucket in buckets}
    for row in rows:
        per_status = counts.setdefault(row["bucket"], {})
        per_status[row["status"]] = per_status.get(row["status"], 0) + row["count"]
    return RunVolume(buckets=buckets, counts=counts)


@dataclass(frozen=True)
class TaskSuccess:
    task_id: str
    name: str
    succeeded: int
    finished: int

    @property
    def rate(self) -> float:
        return self.succeeded / self.finished if self.finished else 0.0


def task_success_rates(
    *, organization: Organization, since: datetime, limit: int = 10
) -> list[TaskSuccess]:
    """Per task, finished runs since ``since`` and how many of them succeeded; the tasks with
    the most finished runs first. One grouped query."""
    rows = (
        TaskRun.objects.filter(
            organization=organization, created_at__gte=since, status__in=TaskRun.TERMINAL
        )
        .values("task_id", "task__name")
        .annotate(
            finished=Count("id"),
            succeeded=Count("id", filter=Q(result=TaskRun.Result.SUCCESS)),
        )
        .order_by("-finished", "task__name")[:limit]
    )
    return [
        TaskSuccess(
            task_id=row["task_id"],
            name=row["task__name"],
            succeeded=row["succeeded"],
            finished=row["finished"],
        )
        for row in rows
    ]


@dataclass(frozen=True)
class QueueDepth:
    queued: int
    waiting_for_interaction: int
    waiting_for_review: int
    running: int
    oldest_queued_at: datetime | None


def run_queue_depth(*, organization: Organization) -> QueueDepth:
    """What is waiting now: one grouped count over the unfinished statuses plus the oldest
    queued run."""
    unfinished = TaskRun.objects.filter(organization=organization).exclude(
        status__in=TaskRun.TERMINAL
    )
    counts = dict(
        unfinished.values("status").annotate(count=Count("id")).values_list("status", "count")
    )
    oldest = (
        unfinished.filter(status=TaskRun.Status.QUEUED)
        .aggregate(oldest=Min("created_at"))
        .get("oldest")
    )
    return QueueDepth(
        queued=counts.get(TaskRun.Status.QUEUED, 0),
        waiting_for_interaction=counts.get(TaskRun.Status.INTERACTION_REQUIRED, 0),
        waiting_for_review=counts.get(TaskRun.Status.REVIEW_REQUIRED, 0),
        running=counts.get(TaskRun.Status.RUNNING, 0) + counts.get(TaskRun.Status.CANCELING, 0),
        oldest_queued_at=oldest,
    )


def run_recent_failures(*, organization: Organization, limit: int = 8) -> list[TaskRun]:
    return list(
        TaskRun.objects.filter(organization=organization, status=TaskRun.Status.FAILED)
        .select_related("task")
        .order_by("-created_at")[:limit]
    )


def playbook_list(
    *, organization: Organization, task_id: str, source_id: str | None = None
) -> QuerySet[Playbook]:
    """A task's playbook versions (the task must be the organization's)."""
    task = task_get(organization=organization, task_id=task_id)
    playbooks = Playbook.objects.filter(organization=organization, task=task)
    return playbooks.filter(source_id=source_id) if source_id else playbooks


def playbook_get(
    *, organization: Organization, task_id: str, version: int, source_id: str | None = None
) -> Playbook:
    """One version; ``source_id`` may be left out while only one source has that version."""
    found = list(
        playbook_list(organization=organization, task_id=task_id, source_id=source_id)
        .filter(version=version)
        .order_by("source_id")[:2]
    )
    if not found:
        raise NotFound("playbook", str(version))
    if len(found) > 1:
        raise InvalidInput(
            "This task has a playbook of that version for several sources; give source_id.",
            field="source_id",
        )
    return found[0]


def playbook_latest(*, task_id: str, source_id: str) -> Playbook | None:
    """The version a run replays (worker side: the run already belongs to the task)."""
    return (
        Playbook.objects.filter(task_id=task_id, source_id=source_id).order_by("-version").first()
    )


def playbook_counts(*, task_ids: list[str]) -> dict[str, int]:
    rows = (
        Playbook.objects.filter(task_id__in=task_ids)
        .values("task_id")
        .annotate(versions=Count("id"))
        .values_list("task_id", "versions")
    )
    return dict(rows)


def workflow_list(*, organization: Organization) -> QuerySet[Workflow]:
    return Workflow.objects.filter(organization=organization)


def workflow_get(
    *, organization: Organization, workflow_id: str, for_update: bool = False
) -> Workflow:
    workflows = workflow_list(organization=organization)
    if for_update:
        workflows = workflows.select_for_update()
    workflow = workflows.filter(pk=workflow_id).first()
    if workflow is None:
        raise NotFound("workflow", workflow_id)
    return workflow


def workflow_run_list(
    *,
    organization: Organization,
    status: str | None = None,
    workflow_id: str | None = None,
) -> QuerySet[WorkflowRun]:
    workflow_runs = WorkflowRun.objects.filter(organization=organization)
    if status:
        workflow_runs = workflow_runs.filter(status=status)
    if workflow_id:
        workflow_runs = workflow_runs.filter(workflow_id=workflow_id)
    return workflow_runs


def workflow_run_get(*, organization: Organization, workflow_run_id: str) -> WorkflowRun:
    workflow_run = (
        WorkflowRun.objects.filter(organization=organization, pk=workflow_run_id)
        .select_related("organization")
        .first()
    )
    if workflow_run is None:
        raise NotFound("workflow_run", workflow_run_id)
    return workflow_run


def workflow_run_steps(*, workflow_run: WorkflowRun) -> QuerySet[TaskRun]:
    """The step runs of a workflow run in the order they started (retries included)."""
    return TaskRun.objects.filter(
        organization_id=workflow_run.organization_id, workflow_run=workflow_run
    ).order_by("created_at", "id")
