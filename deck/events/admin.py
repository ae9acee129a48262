from __future__ import annotations

from django.contrib import admin

from deck.events.models import Event, EventDelivery, EventDestination


class ReadOnlyAdmin(admin.ModelAdmin):
    """Changes go through the API and its services (vault tokens, events, claims)."""

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["id", "type", "organization", "created_at", "fanned_out_at"]
    list_filter = ["type"]
    search_fields = ["id", "type"]
    readonly_fields = ["id", "organization", "type", "data", "created_at", "fanned_out_at"]


@admin.register(EventDestination)
class EventDestinationAdmin(ReadOnlyAdmin):
    list_display = ["id", "type", "organization", "status", "status_reason", "created_at"]
    list_filter = ["type", "status"]
    search_fields = ["id", "url", "exchange"]
    # Token ids only: the secrets themselves are in the vault, encrypted.
    readonly_fields = [
        "id",
        "organization",
        "type",
        "status",
        "status_reason",
        "events",
        "url",
        "custom_header_names",
        "server_url_masked",
        "exchange",
        "previous_secret_expires_at",
        "created_at",
        "updated_at",
    ]
    exclude = [
        "custom_headers_token",
        "secret_token",
        "previous_secret_token",
        "server_url_token",
    ]


@admin.register(EventDelivery)
class EventDeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "destination",
        "event",
        "status",
        "attempts",
        "response_status_code",
        "next_attempt_at",
    ]
    list_filter = ["status"]
    search_fields = ["id", "event__id", "destination__id"]
    list_select_related = ["destination", "event"]
    readonly_fields = [
        "id",
        "organization",
        "event",
        "destination",
        "status",
        "attempts",
        "next_attempt_at",
        "lease_expires_at",
        "last_attempt_at",
        "response_status_code",
        "response_latency_ms",
        "response_body",
        "error",
        "delivered_at",
        "created_at",
        "updated_at",
    ]
    exclude = ["claim_token"]
