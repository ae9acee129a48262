from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from tasks.models import Agent, Credential, Source, Task


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
    list_filter = ["organization", "status"]
    search_fields = ["name", "id"]
    readonly_fields = ["id", "organization", "stage_successes", "created_at", "updated_at"]
