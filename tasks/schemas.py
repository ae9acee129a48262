"""How agents, sources, credentials and tasks look in the API (and in event payloads)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from ninja import Schema
from pydantic import ConfigDict, Field, StringConstraints

from tasks.models import (
    STAGE_SUCCESSES_REQUIRED,
    Agent,
    Credential,
    Entity,
    Playbook,
    RunStep,
    Session,
    Source,
    Task,
    TaskRun,
)

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
JsonObject = dict[str, Any]


class Strict(Schema):
    """Request bodies: unknown fields are an error, so a typo never silently does nothing."""

    model_config = ConfigDict(extra="forbid")


# -- agents -------------------------------------------------------------------------------


class TaskSummary(Schema):
    id: str
    name: str
    status: str


PlannerName = Literal["heuristic", "llm"]


class AgentOut(Schema):
    id: str
    object: Literal["agent"] = "agent"
    name: str
    description: str
    planner: PlannerName
    llm_base_url: str | None = Field(description="Empty: the deployment's DECK_LLM_BASE_URL.")
    llm_model: str | None = Field(description="Empty: the deployment's DECK_LLM_MODEL.")
    has_llm_api_key: bool = Field(description="The key itself is write-only.")
    tasks: list[TaskSummary]
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_tasks(obj: Agent) -> list[Task]:
        return list(obj.tasks.all())

    @staticmethod
    def resolve_llm_base_url(obj: Agent) -> str | None:
        return obj.llm_base_url or None

    @staticmethod
    def resolve_llm_model(obj: Agent) -> str | None:
        return obj.llm_model or None

    @staticmethod
    def resolve_has_llm_api_key(obj: Agent) -> bool:
        return bool(obj.llm_api_key_token)


LlmApiKey = Annotated[str, StringConstraints(max_length=2000)]


class AgentCreateIn(Strict):
    name: Name
    description: str = Field("", max_length=5000)
    planner: PlannerName = "heuristic"
    llm_base_url: str = Field("", max_length=2000)
    llm_model: str = Field("", max_length=200)
    llm_api_key: LlmApiKey | None = Field(
        None, description="Write-only; kept in the vault and never returned."
    )


class AgentUpdateIn(Strict):
    name: Name | None = None
    description: str | None = Field(None, max_length=5000)
    planner: PlannerName | None = None
    llm_base_url: str | None = Field(None, max_length=2000)
    llm_model: str | None = Field(None, max_length=200)
    llm_api_key: LlmApiKey | None = Field(
        None,
        description='Write-only. A new key replaces the old one; "" or null removes it. '
        "Changing llm_base_url without giving a key removes the stored one.",
    )


# -- sources ------------------------------------------------------------------------------


class Website(Strict):
    url: str = Field(max_length=2000)


class SourceOut(Schema):
    id: str
    object: Literal["source"] = "source"
    name: str
    type: str
    website: Website
    interaction_timeout_seconds: int | None = Field(
        description="How long a paused run waits for an answer; null means the default."
    )
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_website(obj: Source) -> dict[str, str]:
        return {"url": obj.url}


InteractionTimeout = Annotated[int, Field(ge=10, le=86400)]


class SourceCreateIn(Strict):
    name: Name
    type: Literal["website"] = "website"
    website: Website
    interaction_timeout_seconds: InteractionTimeout | None = None


class SourceUpdateIn(Strict):
    name: Name | None = None
    website: Website | None = None
    interaction_timeout_seconds: InteractionTimeout | None = None


# -- credentials --------------------------------------------------------------------------


class AuthCredentialsOut(Schema):
    username: str | None
    has_password: bool
    has_totp: bool
    source_fields: list[str]


class CredentialOut(Schema):
    id: str
    object: Literal["credential"] = "credential"
    source_id: str
    auth_method: str
    auth_credentials: AuthCredentialsOut
    external_id: str | None
    status: str
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_auth_credentials(obj: Credential) -> dict[str, Any]:
        return {
            "username": obj.username or None,
            "has_password": bool(obj.password_token),
            "has_totp": bool(obj.totp_token),
            "source_fields": list(obj.source_field_names),
        }

    @staticmethod
    def resolve_external_id(obj: Credential) -> str | None:
        return obj.external_id or None


def credential_representation(credential: Credential) -> dict[str, Any]:
    """The credential as the API returns it (never a secret), as plain JSON for events."""
    return CredentialOut.from_orm(credential).model_dump(mode="json")


class AuthCredentialsIn(Strict):
    username: str | None = Field(None, max_length=500)
    password: str | None = Field(None, max_length=2000)
    totp_secret: str | None = Field(None, max_length=500)
    source_fields: dict[str, str] | None = None


class CredentialCreateIn(Strict):
    source_id: str
    auth_method: Literal["username_password", "none"] = "username_password"
    auth_credentials: AuthCredentialsIn | None = None
    external_id: str | None = Field(None, max_length=255)


class CredentialUpdateIn(Strict):
    auth_credentials: AuthCredentialsIn | None = None
    external_id: str | None = Field(None, max_length=255)


# -- entities -----------------------------------------------------------------------------


class EntityOut(Schema):
    id: str
    object: Literal["entity"] = "entity"
    credential_id: str
    source_id: str
    type: str
    external_id: str
    name: str | None
    attributes: JsonObject
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_name(obj: Entity) -> str | None:
        return obj.name or None


# -- tasks --------------------------------------------------------------------------------


class StorageConfig(Strict):
    enabled: bool | None = None
    extraction: bool | None = None
    extraction_schema: JsonObject | None = None
    extraction_prompt: str | None = Field(None, max_length=20_000)
    deduplication: bool | None = None
    deduplication_schema: JsonObject | None = None


class StorageOut(Schema):
    enabled: bool
    extraction: bool
    extraction_schema: JsonObject | None
    extraction_prompt: str | None
    deduplication: bool
    deduplication_schema: JsonObject | None


class TaskSettingsIn(Strict):
    timeout_seconds: int | None = None
    review_required: bool | None = None


class TaskSettingsOut(Schema):
    timeout_seconds: int
    review_required: bool


class TaskProgress(Schema):
    successful_runs: int = Field(description="Successful runs in the current status.")
    required: int | None = Field(description="Successful runs needed to reach next_status.")
    next_status: str | None


TaskType = Literal["read", "write"]
TaskScope = Literal[
    "retrieve_documents",
    "retrieve_metadata",
    "trigger_action",
    "upload_document",
    "inject_field",
    "submit_form",
]


class TaskOut(Schema):
    id: str
    object: Literal["task"] = "task"
    name: str
    agent_id: str
    type: str = Field(description="read: extracts information; write: acts in the session.")
    scope: str
    prompt: str | None
    input_schema: JsonObject
    output_schema: JsonObject
    storage: StorageOut
    settings: TaskSettingsOut
    status: str
    progress: TaskProgress
    playbook_versions: int = Field(
        description="Playbook versions learned so far (all sources). Reset, and changing "
        "the prompt or schemas, discards them."
    )
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_prompt(obj: Task) -> str | None:
        return obj.prompt or None

    @staticmethod
    def resolve_settings(obj: Task) -> dict[str, Any]:
        return {"timeout_seconds": obj.timeout_seconds, "review_required": obj.review_required}

    @staticmethod
    def resolve_playbook_versions(obj: Task) -> int:
        counted = getattr(obj, "playbook_versions_count", None)  # lists annotate it
        if counted is not None:
            return int(counted)
        return 0 if obj._state.adding else obj.playbooks.count()

    @staticmethod
    def resolve_progress(obj: Task) -> dict[str, Any]:
        next_status = Task.NEXT_STATUS.get(Task.Status(obj.status))
        return {
            "successful_runs": obj.stage_successes,
            "required": STAGE_SUCCESSES_REQUIRED if next_status else None,
            "next_status": next_status.value if next_status else None,
        }


TaskId = Annotated[str, StringConstraints(pattern=r"^task_[A-Za-z0-9_-]{1,64}$", max_length=80)]


class TaskCreateIn(Strict):
    id: TaskId | None = None
    name: Name
    agent_id: str
    type: TaskType | None = None
    scope: TaskScope | None = None
    prompt: str | None = Field(None, max_length=20_000)
    input_schema: JsonObject | None = None
    output_schema: JsonObject | None = None
    storage: StorageConfig | None = None
    settings: TaskSettingsIn | None = None


class TaskUpdateIn(Strict):
    name: Name | None = None
    agent_id: str | None = None
    type: TaskType | None = None
    scope: TaskScope | None = None
    prompt: str | None = Field(None, max_length=20_000)
    input_schema: JsonObject | None = None
    output_schema: JsonObject | None = None
    storage: StorageConfig | None = None
    settings: TaskSettingsIn | None = None


# -- playbooks ----------------------------------------------------------------------------


class PlaybookOut(Schema):
    id: str
    object: Literal["playbook"] = "playbook"
    task_id: str
    source_id: str
    version: int
    steps_count: int = Field(description="Page steps, not counting the output mapping.")
    healed_from_version: int | None = Field(
        description="The version whose replay stopped fitting and was healed into this one."
    )
    recorded_from_run_id: str | None
    created_at: datetime

    @staticmethod
    def resolve_steps_count(obj: Playbook) -> int:
        return sum(1 for step in obj.steps if step.get("tool") != "output")


class PlaybookDetailOut(PlaybookOut):
    steps: list[JsonObject] = Field(
        description="Parameterised steps ({{credential.password}}, {{input.<name>}} …); each "
        "page step lists its target's locators in order of preference; the last step maps "
        "the final page(s) onto the output schema."
    )


def task_representation(task: Task) -> dict[str, Any]:
    """The task as the API returns it, as plain JSON (for event payloads)."""
    return TaskOut.from_orm(task).model_dump(mode="json")


# -- task runs and sessions ---------------------------------------------------------------


class EntityFilter(Strict):
    """Matches the credential's entities: ``type`` equal, every attribute equal."""

    type: str | None = Field(None, max_length=64)
    attributes: dict[str, str | int | float | bool | None] = Field(
        default_factory=dict, max_length=20
    )


class RunCreateIn(Strict):
    credential_id: str | None = None
    source_id: str | None = None
    session_id: str | None = None
    entity_ids: list[Annotated[str, StringConstraints(max_length=80)]] | None = Field(
        None,
        max_length=1000,
        description="Scope the run to these entities (ent_…) of the run's credential.",
    )
    entity_filter: EntityFilter | None = Field(
        None, description="Fan out over the credential's entities that match."
    )
    input: JsonObject = Field(default_factory=dict)


class InteractionField(Schema):
    name: str
    type: str
    label: str


class Interaction(Schema):
    type: str
    message: str
    fields: list[InteractionField]


class InteractionAnswerIn(Strict):
    input: dict[str, Any]


class RunError(Schema):
    type: str
    code: str
    message: str


class Screenshot(Schema):
    sequence: int
    tool: str
    reasoning: str
    url: str = Field(description="A signed, expiring link to the PNG.")
    created_at: datetime


class Artifacts(Schema):
    screenshots: list[Screenshot]


class TaskRunOut(Schema):
    id: str
    object: Literal["task_run"] = "task_run"
    status: str
    result: str | None
    task_id: str
    agent_id: str
    credential_id: str | None
    source_id: str
    session_id: str | None
    workflow_id: str | None
    workflow_run_id: str | None = Field(None, description="Set on the step runs of workflows.")
    workflow_step: int | None = None
    parent_id: str | None = Field(None, description="Set on the child runs of an entity fan-out.")
    entity_ids: list[str] = Field(description="The entities the run is scoped to.")
    runtime_ms: int | None
    input: JsonObject | None = Field(None, description="Only with include=input.")
    tokenized: list[str]
    output: JsonObject | None
    errors: list[RunError]
    interaction: Interaction | None
    storage: list[JsonObject]
    artifacts: Artifacts | None = Field(None, description="Only with include=screenshots.")
    canceled_at: datetime | None
    created_at: datetime
    updated_at: datetime


class SessionOut(Schema):
    id: str
    object: Literal["session"] = "session"
    status: str
    source_id: str
    credential_id: str | None
    last_active_at: datetime | None
    ended_at: datetime | None
    created_at: datetime
    updated_at: datetime


RUN_INCLUDES = frozenset({"input", "storage", "screenshots"})
# include=screenshots on a run lists at most this many (oldest first); the screenshots
# endpoint pages through all of them.
RUN_SCREENSHOTS_INCLUDED = 100


def screenshot_representation(step: RunStep, organization_id: str) -> dict[str, Any]:
    from storage.signing import signed_url  # storage's models import this module

    return {
        "sequence": step.sequence,
        "tool": step.tool,
        "reasoning": step.reasoning,
        "url": signed_url(
            path=step.screenshot,
            organization_id=organization_id,
            file_name=f"{step.run_id}-{step.sequence}.png",
            content_type="image/png",
        ),
        "created_at": step.created_at,
    }


def run_representation(run: TaskRun, include: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The run as the API returns it. Tokenized fields are never part of it: the stored input
    does not hold them, and ``input`` appears only when asked for."""
    data: dict[str, Any] = {
        "id": run.id,
        "object": "task_run",
        "status": run.status,
        "result": run.result,
        "task_id": run.task_id,
        "agent_id": run.agent_id,
        "credential_id": run.credential_id,
        "source_id": run.source_id,
        "session_id": run.session_id,
        "workflow_id": run.workflow_id or None,
        "workflow_run_id": run.workflow_run_id,
        "workflow_step": run.workflow_step,
        "parent_id": run.parent_id,
        "entity_ids": list(run.entity_ids),
        "runtime_ms": run.runtime_ms,
        "tokenized": list(run.tokenized),
        "output": run.output,
        "errors": list(run.errors),
        "interaction": run.interaction,
        "storage": run_storage(run, full="storage" in include),
        "canceled_at": run.canceled_at,
        "created_at": run.created_at,
        "updated_at": run.updated_at,
    }
    if "input" in include:
        data["input"] = dict(run.input)
    if "screenshots" in include:
        steps = run.steps.exclude(screenshot="").order_by("sequence")[:RUN_SCREENSHOTS_INCLUDED]
        data["artifacts"] = {
            "screenshots": [screenshot_representation(s, run.organization_id) for s in steps]
        }
    return data


def run_storage(run: TaskRun, *, full: bool = False) -> list[dict[str, Any]]:
    """The run's storage items, newest first: summaries, or with ``include=storage`` the
    full items (extraction and a fresh signed url)."""
    from storage.schemas import storage_representation, storage_summary

    # Sorted here rather than in SQL so that a prefetched list (run lists) is reused.
    items = sorted(run.storage_items.all(), key=lambda i: (i.created_at, i.pk), reverse=True)
    if full:
        return [storage_representation(item) for item in items]
    return [storage_summary(item) for item in items]


def run_event_data(run: TaskRun) -> dict[str, Any]:
    return TaskRunOut.model_validate(run_representation(run)).model_dump(
        mode="json", exclude_unset=True
    )


def session_representation(session: Session) -> dict[str, Any]:
    return SessionOut.from_orm(session).model_dump(mode="json")


# -- workflows ----------------------------------------------------------------------------


class WorkflowStepOut(Schema):
    task_id: str
    input_mapping: JsonObject = Field(
        description='Input field → JSON Pointer into {"input": …, "steps": [outputs]}, '
        'or {"const": value}.'
    )
    failure_behavior: Literal["stop", "continue", "retry"]
    max_attempts: int


class WorkflowOut(Schema):
    id: str
    object: Literal["workflow"] = "workflow"
    name: str
    description: str
    input_schema: JsonObject
    steps: list[WorkflowStepOut]
    created_at: datetime
    updated_at: datetime


class WorkflowCreateIn(Strict):
    name: Name
    description: str = Field("", max_length=5000)
    input_schema: JsonObject | None = None
    steps: list[JsonObject]


class WorkflowUpdateIn(Strict):
    name: Name | None = None
    description: str | None = Field(None, max_length=5000)
    input_schema: JsonObject | None = None
    steps: list[JsonObject] | None = None


class WorkflowRunIn(Strict):
    credential_id: str | None = None
    session_id: str | None = None
    input: JsonObject = Field(default_factory=dict)


class WorkflowRunOut(Schema):
    id: str
    object: Literal["workflow_run"] = "workflow_run"
    workflow_id: str
    status: str
    credential_id: str | None
    session_id: str | None
    current_step: int
    current_run_id: str | None
    tokenized: list[str]
    input: JsonObject | None = Field(None, description="Only with include=input.")
    outputs: list[JsonObject | None]
    errors: list[JsonObject]
    step_runs: list[TaskRunOut] | None = Field(None, description="On GET of one workflow run.")
    started_at: datetime | None
    finished_at: datetime | None
    canceled_at: datetime | None
    created_at: datetime
    updated_at: datetime


def workflow_representation(workflow: Any) -> dict[str, Any]:
    return WorkflowOut.from_orm(workflow).model_dump(mode="json")


def workflow_run_representation(
    workflow_run: Any, *, include_input: bool = False, step_runs: list[TaskRun] | None = None
) -> dict[str, Any]:
    """The workflow run as the API returns it; its tokenized input is never part of it."""
    data: dict[str, Any] = {
        "id": workflow_run.id,
        "object": "workflow_run",
        "workflow_id": workflow_run.workflow_id,
        "status": workflow_run.status,
        "credential_id": workflow_run.credential_id,
        "session_id": workflow_run.session_id,
        "current_step": workflow_run.current_step,
        "current_run_id": workflow_run.current_run_id,
        "tokenized": list(workflow_run.tokenized),
        "outputs": list(workflow_run.outputs),
        "errors": list(workflow_run.errors),
        "started_at": workflow_run.started_at,
        "finished_at": workflow_run.finished_at,
        "canceled_at": workflow_run.canceled_at,
        "created_at": workflow_run.created_at,
        "updated_at": workflow_run.updated_at,
    }
    if include_input:
        data["input"] = dict(workflow_run.input)
    if step_runs is not None:
        data["step_runs"] = [run_representation(run) for run in step_runs]
    return data


def workflow_run_event_data(workflow_run: Any) -> dict[str, Any]:
    return WorkflowRunOut.model_validate(workflow_run_representation(workflow_run)).model_dump(
        mode="json", exclude_unset=True
    )
