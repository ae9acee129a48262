from __future__ import annotations

from django.db import models

from deck.ids import (
    new_agent_id,
    new_credential_id,
    new_entity_id,
    new_playbook_id,
    new_run_id,
    new_session_id,
    new_source_id,
    new_task_id,
    new_workflow_id,
    new_workflow_run_id,
)
from deck.models import Organization, Timestamped

STAGE_SUCCESSES_REQUIRED = 3  # seed 001: a task graduates after 3 successful runs per stage


class Agent(Timestamped):
    id = models.CharField(primary_key=True, max_length=80, default=new_agent_id, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="agents")

    class Planner(models.TextChoices):
        HEURISTIC = "heuristic"  # built in: generic rules, no model, no per-site code
        LLM = "llm"  # any OpenAI-compatible chat-completions endpoint with tool calling

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # How the agent explores while a task is learning; in test and live the learned playbook
    # replays first and falls back to this planner when a step no longer fits.
    planner = models.CharField(max_length=16, choices=Planner.choices, default=Planner.HEURISTIC)
    # For the llm planner; empty fields fall back to the DECK_LLM_* settings. The key lives
    # in the vault (purpose "agent.llm_api_key").
    llm_base_url = models.URLField(max_length=2000, blank=True)
    llm_model = models.CharField(max_length=200, blank=True)
    llm_api_key_token = models.CharField(max_length=80, blank=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "-created_at"], name="agent_org_created")]

    def __str__(self) -> str:
        return self.name


class Source(Timestamped):
    class Type(models.TextChoices):
        WEBSITE = "website"

    id = models.CharField(primary_key=True, max_length=80, default=new_source_id, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="sources")
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=16, choices=Type.choices, default=Type.WEBSITE)
    url = models.URLField(max_length=2000)
    # How long a paused run waits for a person's answer; null means the deployment default.
    interaction_timeout_seconds = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "-created_at"], name="source_org_created")]

    def __str__(self) -> str:
        return self.name


class Credential(Timestamped):
    """A login for a source. Secrets live in the vault; only token ids are kept here."""

    class AuthMethod(models.TextChoices):
        USERNAME_PASSWORD = "username_password"
        NONE = "none"

    class Status(models.TextChoices):
        UNVERIFIED = "unverified"
        VERIFIED = "verified"
        INVALID = "invalid"

    id = models.CharField(
        primary_key=True, max_length=80, default=new_credential_id, editable=False
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="credentials"
    )
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="credentials")
    auth_method = models.CharField(
        max_length=32, choices=AuthMethod.choices, default=AuthMethod.USERNAME_PASSWORD
    )
    username = models.CharField(max_length=500, blank=True)
    password_token = models.CharField(max_length=80, blank=True)
    totp_token = models.CharField(max_length=80, blank=True)
    source_fields_token = models.CharField(max_length=80, blank=True)
    source_field_names = models.JSONField(default=list, blank=True)
    external_id = models.CharField(max_length=255, blank=True, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UNVERIFIED)

    class Meta:
        indexes = [models.Index(fields=["organization", "-created_at"], name="cred_org_created")]

    def __str__(self) -> str:
        return f"{self.username or self.id} @ {self.source_id}"

    def vault_token_ids(self) -> list[str]:
        tokens = [self.password_token, self.totp_token, self.source_fields_token]
        return [token for token in tokens if token]


class Entity(Timestamped):
    """Something a login gives access to (an account, a meter, a policy …), discovered by the
    agent. Runs can be scoped to entities; ``(credential, type, external_id)`` is its identity
    at the source, so discovering it again updates it instead of duplicating it."""

    id = models.CharField(primary_key=True, max_length=80, default=new_entity_id, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="entities"
    )
    credential = models.ForeignKey(Credential, on_delete=models.CASCADE, related_name="entities")
    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="entities")
    # Free text: account, location, meter, policy, reservation, employee …
    type = models.CharField(max_length=64)
    external_id = models.CharField(max_length=255)
    name = models.CharField(max_length=500, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "entities"
        constraints = [
            models.UniqueConstraint(
                fields=["credential", "type", "external_id"], name="entity_identity_unique"
            )
        ]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="entity_org_created"),
            models.Index(fields=["credential", "type"], name="entity_credential_type"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.external_id}"


class Task(Timestamped):
    class Status(models.TextChoices):
        LEARNING = "learning"
        TEST = "test"
        LIVE = "live"

    NEXT_STATUS = {Status.LEARNING: Status.TEST, Status.TEST: Status.LIVE}

    class Type(models.TextChoices):
        READ = "read"  # extracts information from the session
        WRITE = "write"  # performs actions inside the session

    class Scope(models.TextChoices):
        RETRIEVE_DOCUMENTS = "retrieve_documents"
        RETRIEVE_METADATA = "retrieve_metadata"
        TRIGGER_ACTION = "trigger_action"
        UPLOAD_DOCUMENT = "upload_document"
        INJECT_FIELD = "inject_field"
        SUBMIT_FORM = "submit_form"

    # Seed 000: every scope belongs to one type of job.
    SCOPE_TYPES = {
        Scope.RETRIEVE_DOCUMENTS: Type.READ,
        Scope.RETRIEVE_METADATA: Type.READ,
        Scope.TRIGGER_ACTION: Type.WRITE,
        Scope.UPLOAD_DOCUMENT: Type.WRITE,
        Scope.INJECT_FIELD: Type.WRITE,
        Scope.SUBMIT_FORM: Type.WRITE,
    }

    # Callers may choose the id (``task_…``), hence the room beyond the generated length.
    id = models.CharField(primary_key=True, max_length=80, default=new_task_id)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="tasks")
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="tasks")
    name = models.CharField(max_length=200)
    prompt = models.TextField(blank=True)
    input_schema = models.JSONField()
    output_schema = models.JSONField()
    # enabled, extraction, extraction_schema, extraction_prompt, deduplication,
    # deduplication_schema: always all six keys (see tasks.definitions.storage_normalize).
    storage = models.JSONField()
    type = models.CharField(max_length=8, choices=Type.choices, default=Type.READ)
    scope = models.CharField(max_length=24, choices=Scope.choices, default=Scope.RETRIEVE_METADATA)
    timeout_seconds = models.PositiveIntegerField(default=1800)
    review_required = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.LEARNING)
    stage_successes = models.PositiveIntegerField(
        default=0, help_text="Successful runs in the current status."
    )

    class Meta:
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="task_org_created"),
            models.Index(fields=["organization", "status"], name="task_org_status"),
            models.Index(fields=["organization", "type", "scope"], name="task_org_type_scope"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def tokenized_fields(self) -> list[str]:
        return list(self.input_schema.get("tokenized") or [])


class Session(Timestamped):
    """A logged-in browser session on a source; runs can share it via ``session_id``."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        IDLE = "idle"
        COMPLETED = "completed"
        FAILED = "failed"

    ENDED = (Status.COMPLETED, Status.FAILED)

    id = models.CharField(primary_key=True, max_length=80, default=new_session_id, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="sessions"
    )
    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="sessions")
    credential = models.ForeignKey(
        Credential, null=True, blank=True, on_delete=models.SET_NULL, related_name="sessions"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    last_active_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="session_org_created"),
            models.Index(fields=["status", "last_active_at"], name="session_status_active"),
        ]

    def __str__(self) -> str:
        return self.id


class TaskRun(Timestamped):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        INTERACTION_REQUIRED = "interaction_required"
        REVIEW_REQUIRED = "review_required"
        COMPLETED = "completed"
        FAILED = "failed"
        CANCELING = "canceling"
        CANCELED = "canceled"

    class Result(models.TextChoices):
        SUCCESS = "success"
        FAILURE = "failure"
        UNKNOWN = "unknown"

    TERMINAL = (Status.COMPLETED, Status.FAILED, Status.CANCELED)

    id = models.CharField(primary_key=True, max_length=80, default=new_run_id, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="task_runs"
    )
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="runs")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="runs")
    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="runs")
    credential = models.ForeignKey(
        Credential, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    session = models.ForeignKey(
        Session, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    workflow_id = models.CharField(max_length=80, blank=True)
    # A step of a workflow run: which run, which step (index into the workflow's steps).
    workflow_run = models.ForeignKey(
        "WorkflowRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="step_runs"
    )
    workflow_step = models.PositiveSmallIntegerField(null=True, blank=True)
    # Entity fan-out: one child run per entity under a parent that never executes itself
    # and aggregates its children (tasks.fanout).
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    # A queued child waiting for a fan-out slot: neither dispatched nor re-published by the
    # sweeper until tasks.fanout releases it.
    held = models.BooleanField(default=False)
    # The entities (ids) the run is scoped to; empty means everything the login shows.
    entity_ids = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.QUEUED)
    # Null until the run has a result: "no result yet" is not an empty string.
    result = models.CharField(  # noqa: DJ001
        max_length=16, choices=Result.choices, null=True, blank=True
    )
    # The input as given, less its tokenized fields, which live in the vault (input_tokens
    # maps field name → token id until the run ends, when the tokens are destroyed).
    input = models.JSONField(default=dict)
    tokenized = models.JSONField(default=list)
    input_tokens = models.JSONField(default=dict)
    output = models.JSONField(null=True, blank=True)
    errors = models.JSONField(default=list)
    interaction = models.JSONField(null=True, blank=True)
    interaction_expires_at = models.DateTimeField(null=True, blank=True)
    # Vault tokens of the answers given so far, in order; answers may be MFA codes.
    interaction_answers = models.JSONField(default=list)
    # Lifecycle bookkeeping for the worker and the sweeper.
    attempts = models.PositiveSmallIntegerField(default=0)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    runtime_ms = models.PositiveBigIntegerField(null=True, blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="run_org_created"),
            models.Index(fields=["status", "dispatched_at"], name="run_status_dispatched"),
            models.Index(fields=["status", "heartbeat_at"], name="run_status_heartbeat"),
            models.Index(fields=["credential", "status"], name="run_credential_status"),
            models.Index(fields=["parent", "status"], name="run_parent_status"),
            models.Index(fields=["source", "held", "status"], name="run_source_held_status"),
            models.Index(fields=["workflow_run", "workflow_step"], name="run_workflow_step"),
        ]

    def __str__(self) -> str:
        return self.id

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL


class RunStep(models.Model):
    """One step of a run's trace: what the agent did, with secrets already masked."""

    run = models.ForeignKey(TaskRun, on_delete=models.CASCADE, related_name="steps")
    sequence = models.PositiveIntegerField()
    tool = models.CharField(max_length=64)
    detail = models.JSONField(default=dict)
    reasoning = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    # A PNG of the page after the step (secrets masked): a name in default_storage,
    # screenshots/<organization_id>/<run_id>/<sequence>.png; empty when there is none.
    screenshot = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "sequence"]
        constraints = [models.UniqueConstraint(fields=["run", "sequence"], name="run_step_unique")]

    def __str__(self) -> str:
        return f"{self.run_id} #{self.sequence} {self.tool}"


class Playbook(models.Model):
    """What a successful run did on a source, as parameterised steps a later run replays.

    ``steps`` hold placeholders (``{{credential.password}}``, ``{{input.amount}}``) and never
    a value of the run that recorded them; each page step keeps its target's locator
    alternatives in order of preference, and the last step is the output mapping. Versions
    count up per (task, source); a healed replay is a new version naming the one it healed.
    """

    id = models.CharField(primary_key=True, max_length=80, default=new_playbook_id, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="playbooks"
    )
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="playbooks")
    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="playbooks")
    version = models.PositiveIntegerField()
    steps = models.JSONField()
    # sha256 of the canonical steps: a run that did the same again adds no version.
    steps_hash = models.CharField(max_length=64)
    recorded_from_run = models.ForeignKey(
        TaskRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="playbooks"
    )
    healed_from_version = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["task", "source", "version"], name="playbook_task_source_version"
            )
        ]
        indexes = [
            models.Index(fields=["task", "-created_at"], name="playbook_task_created"),
        ]

    def __str__(self) -> str:
        return f"{self.task_id} @ {self.source_id} v{self.version}"


class Workflow(Timestamped):
    """Tasks chained in order (seed 000): each step's input is mapped from the workflow input
    and the outputs of earlier steps; all steps run in one session with one credential.

    ``steps``: ``[{task_id, input_mapping: {input field: JSON Pointer | {"const": value}},
    failure_behavior: stop|continue|retry, max_attempts}]``, checked by tasks.workflows."""

    id = models.CharField(primary_key=True, max_length=80, default=new_workflow_id, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="workflows"
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    steps = models.JSONField(default=list)
    input_schema = models.JSONField(default=dict)

    class Meta:
        indexes = [models.Index(fields=["organization", "-created_at"], name="wf_org_created")]

    def __str__(self) -> str:
        return self.name

    @property
    def tokenized_fields(self) -> list[str]:
        return list(self.input_schema.get("tokenized") or [])


class WorkflowRun(Timestamped):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        INTERACTION_REQUIRED = "interaction_required"
        COMPLETED = "completed"
        FAILED = "failed"
        CANCELED = "canceled"

    ACTIVE = (Status.QUEUED, Status.RUNNING, Status.INTERACTION_REQUIRED)
    TERMINAL = (Status.COMPLETED, Status.FAILED, Status.CANCELED)

    id = models.CharField(
        primary_key=True, max_length=80, default=new_workflow_run_id, editable=False
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="workflow_runs"
    )
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.QUEUED)
    # As on TaskRun: tokenized fields live in the vault until the workflow run ends.
    input = models.JSONField(default=dict)
    tokenized = models.JSONField(default=list)
    input_tokens = models.JSONField(default=dict)
    credential = models.ForeignKey(
        Credential, null=True, blank=True, on_delete=models.SET_NULL, related_name="workflow_runs"
    )
    session = models.ForeignKey(
        Session, null=True, blank=True, on_delete=models.SET_NULL, related_name="workflow_runs"
    )
    # The steps as they were when the run started: editing the workflow does not change it.
    steps = models.JSONField(default=list)
    current_step = models.PositiveSmallIntegerField(default=0)
    # The step run the workflow waits for; moved by a conditional update, so a duplicate
    # delivery of a step's end never starts the next step twice.
    current_run = models.ForeignKey(
        TaskRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    outputs = models.JSONField(default=list)
    errors = models.JSONField(default=list)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="wrun_org_created"),
            models.Index(fields=["workflow", "status"], name="wrun_workflow_status"),
        ]

    def __str__(self) -> str:
        return self.id

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL
