from __future__ import annotations

from django.contrib import admin

from tasks.sandbox.models import Cancellation, Payment, PortalLayout


@admin.register(PortalLayout)
class PortalLayoutAdmin(admin.ModelAdmin):
    list_display = ["portal", "layout", "updated_at"]


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = ["confirmation_number", "portal", "username", "account_number", "amount"]
    list_filter = ["portal"]
    search_fields = ["confirmation_number", "username", "account_number"]


@admin.register(Cancellation)
class CancellationAdmin(admin.ModelAdmin):
    list_display = ["cancellation_number", "reservation_number", "username", "created_at"]
    search_fields = ["cancellation_number", "reservation_number", "username"]
