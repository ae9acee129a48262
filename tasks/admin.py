from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

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


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "id", "created_at"]
    list_filter = ["organization"]
    search_fields = ["name", "id"]
    readonly_fields = ["id", "created_at", "updated_at"]


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ["name", "url", "organization", "id", "created_at"]
    list_filter = ["organization", "type"]
    search_fields = ["name", "url", "id"]
    readonly_fields = ["id", "created_at", "updated_at"]


@admin.register(Credential)
class CredentialAdmin(admin.ModelAdmin):
    """Secrets live in the vault; the admin shows only whether each one is set."""

    list_display = ["id", "username", "source", "organization", "status", "created_at"]
    list_filter = ["organization", "status", "auth_method"]
    search_fields = ["id", "username", "external_id"]
    fields = [
        "id",
        "organization",
        "source",
        "auth_method",
        "username",
        "external_id",
        "status",
        "password",
        "totp",
        "source_field_names",
        "created_at",
        "updated_at",
    ]
    readonly_fields = [
        "id",
        "organization",
        "source",
        "auth_method",
        "password",
        "totp",
        "source_field_names",
        "created_at",
        "updated_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Creating one means typing a secret: that goes through the API or the console.
        return False

    @admin.display(description="Password")
    def password(self, obj: Credential) -> str:
        return "•••••••• (in the vault)" if obj.password_token else "not set"

    @admin.display(description="TOTP seed")
    def totp(self, obj: Credential) -> str:
        return "•••••••• (in the vault)" if obj.totp_token else "not set"


@admin.register(Entity)
class EntityAdmin(admin.ModelAdmin):
    """Entities are what logins showed; the agent records them, the admin reads them."""

    list_display = ["type", "external_id", "name", "credential", "organization", "last_seen_at"]
    list_filter = ["organization", "type"]
    search_fields = ["id", "external_id", "name"]
    readonly_fields = [
        "id",
        "organization",
        "credential",
        "source",
        "type",
        "external_id",
        "first_seen_at",
        "last_seen_at",
        "created_at",
        "updated_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "id",
        "organization",
        "agent",
        "status",
        "stage_successes",
        "updated_at",
    ]
    list_filter = ["organization", "status", "type", "scope"]
    search_fields = ["name", "id"]
    readonly_fields = ["id", "organization", "stage_successes", "created_at", "updated_at"]


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    list_display = ["id", "organization", "source", "credential", "status", "last_active_at"]
    list_filter = ["organization", "status"]
    search_fields = ["id"]
    readonly_fields = ["id", "organization", "source", "credential", "created_at", "updated_at"]


@admin.register(RunStep)
class RunStepAdmin(admin.ModelAdmin):
    list_display = ["run", "sequence", "tool", "duration_ms", "created_at"]
    search_fields = ["run__id", "tool"]
    readonly_fields = [
        "run",
        "sequence",
        "tool",
        "detail",
        "reasoning",
        "duration_ms",
        "created_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class RunStepInline(admin.TabularInline):
    model = RunStep
    extra = 0
    fields = readonly_fields = ("sequence", "tool", "detail", "reasoning", "duration_ms")
    can_delete = False


@admin.register(TaskRun)
class TaskRunAdmin(admin.ModelAdmin):
    """Runs change only through their lifecycle; the admin reads them. Tokenized input and
    interaction answers are vault token ids, not shown."""

    list_display = ["id", "task", "organization", "status", "result", "attempts", "created_at"]
    list_filter = ["organization", "status", "result"]
    search_fields = ["id", "task__name"]
    exclude = ["input_tokens", "interaction_answers"]
    inlines = [RunStepInline]

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> list[str]:
        return [
            field.name
            for field in TaskRun._meta.fields
            if field.name not in {"input_tokens", "interaction_answers"}
        ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Playbook)
class PlaybookAdmin(admin.ModelAdmin):
    """Playbooks are recorded by successful runs and discarded by a reset; the admin reads
    them (and may delete one, which makes the next run explore)."""

    list_display = ["id", "task", "source", "version", "healed_from_version", "created_at"]
    list_filter = ["organization"]
    search_fields = ["id", "task__id", "task__name"]

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> list[str]:
        return [field.name for field in Playbook._meta.fields]


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
    """Steps are checked against the task schemas by tasks.workflows; edit them through the
    console or the API, which run that check."""

    list_display = ["name", "id", "organization", "created_at"]
    list_filter = ["organization"]
    search_fields = ["name", "id"]
    readonly_fields = ["id", "organization", "steps", "input_schema", "created_at", "updated_at"]


@admin.register(WorkflowRun)
class WorkflowRunAdmin(admin.ModelAdmin):
    """Workflow runs change only through their lifecycle; the admin reads them. Tokenized
    input is vault token ids, not shown."""

    list_display = ["id", "workflow", "organization", "status", "current_step", "created_at"]
    list_filter = ["organization", "status"]
    search_fields = ["id", "workflow__name"]
    exclude = ["input_tokens"]

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> list[str]:
        return [field.name for field in WorkflowRun._meta.fields if field.name != "input_tokens"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
