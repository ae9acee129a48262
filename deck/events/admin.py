from __future__ import annotations

from django.contrib import admin

from deck.events.models import Event


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["id", "type", "organization", "created_at"]
    list_filter = ["type"]
    search_fields = ["id", "type"]
    readonly_fields = ["id", "organization", "type", "data", "created_at"]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
