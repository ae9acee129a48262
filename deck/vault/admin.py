"""Read-only admin for the vault: metadata only, never key material or ciphertext."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from deck.vault.models import DataKey, VaultToken


class _ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Deleting a data key loses every token it encrypts; tokens go with their owners.
        return False


@admin.register(DataKey)
class DataKeyAdmin(_ReadOnlyAdmin):
    list_display = ["id", "organization", "kek_id", "active", "created_at", "updated_at"]
    list_filter = ["active", "kek_id"]
    list_select_related = ["organization"]
    search_fields = ["id", "organization__id", "organization__name"]
    fields = readonly_fields = (
        "id",
        "organization",
        "kek_id",
        "active",
        "created_at",
        "updated_at",
    )
    exclude = ["wrapped_key"]


@admin.register(VaultToken)
class VaultTokenAdmin(_ReadOnlyAdmin):
    list_display = ["id", "organization", "purpose", "data_key", "created_at"]
    list_filter = ["purpose"]
    list_select_related = ["organization", "data_key"]
    search_fields = ["id", "organization__id", "organization__name"]
    fields = readonly_fields = ("id", "organization", "purpose", "data_key", "created_at")
    exclude = ["ciphertext"]
