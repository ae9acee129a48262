"""Events, the destinations that subscribe to them, and one delivery row per (event,
destination): the outbox that makes delivery survive broker outages and dead workers."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from deck.ids import new_event_delivery_id, new_event_destination_id, new_event_id
from deck.models import Organization, Timestamped

# The event types the API contract names; destinations subscribe to these or to "*".
EVENT_TYPES = (
    "task.created",
    "task.updated",
    "task.reset",
    "task.deleted",
    "task_run.queued",
    "task_run.running",
    "task_run.interaction_required",
    "task_run.review_required",
    "task_run.completed",
    "task_run.failed",
    "task_run.canceling",
    "task_run.canceled",
    "workflow.created",
    "workflow.updated",
    "workflow.deleted",
    "workflow_run.queued",
    "workflow_run.running",
    "workflow_run.interaction_required",
    "workflow_run.completed",
    "workflow_run.failed",
    "workflow_run.canceled",
    "storage.created",
    "credential.verified",
    "credential.invalid",
    "session.running",
    "session.completed",
    "session.failed",
    "event_destination.activated",
    "event_destination.deactivated",
)
# Sent by POST /v2/event-destinations/{id}/test to that destination only; not subscribable.
TEST_EVENT_TYPE = "event_destination.test"
ALL_EVENTS = "*"


class Event(models.Model):
    """Something that happened, written in the same transaction as the change itself."""

    id = models.CharField(primary_key=True, max_length=64, default=new_event_id, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=64)
    # The object as the API returns it (tokenized fields never included).
    data = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Null until the fan-out job has created this event's deliveries: the outbox marker.
    fanned_out_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="event_org_created"),
            models.Index(fields=["organization", "type"], name="event_org_type"),
            # Only the (few) events still waiting for fan-out are indexed.
            models.Index(
                fields=["created_at"],
                condition=Q(fanned_out_at__isnull=True),
                name="event_fanout_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class EventDestination(Timestamped):
    """A webhook endpoint or a RabbitMQ exchange. Secrets (the signing secret, custom header
    values, the AMQP URL with its password) live in the vault; only token ids are kept."""

    class Type(models.TextChoices):
        WEBHOOK = "webhook"
        RABBITMQ = "rabbitmq"

    class Status(models.TextChoices):
        ACTIVE = "active"
        INACTIVE = "inactive"

    class Reason(models.TextChoices):
        MANUAL = "manual"
        ENDPOINT_GONE = "endpoint_gone"
        TOO_MANY_FAILURES = "too_many_failures"

    id = models.CharField(
        primary_key=True, max_length=64, default=new_event_destination_id, editable=False
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="event_destinations"
    )
    type = models.CharField(max_length=16, choices=Type.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    # Why an inactive destination is inactive; empty while active.
    status_reason = models.CharField(max_length=32, choices=Reason.choices, blank=True)
    events = models.JSONField(default=list)
    # webhook
    url = models.CharField(max_length=2000, blank=True)
    custom_header_names = models.JSONField(default=list)
    custom_headers_token = models.CharField(max_length=80, blank=True)
    secret_token = models.CharField(max_length=80, blank=True)
    # After a rotation the previous secret keeps signing until previous_secret_expires_at.
    previous_secret_token = models.CharField(max_length=80, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    # rabbitmq
    server_url_token = models.CharField(max_length=80, blank=True)
    server_url_masked = models.CharField(max_length=2000, blank=True)
    exchange = models.CharField(max_length=255, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="evtd_org_created"),
            models.Index(fields=["organization", "status"], name="evtd_org_status"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"

    def vault_token_ids(self) -> list[str]:
        tokens = [
            self.custom_headers_token,
            self.secret_token,
            self.previous_secret_token,
            self.server_url_token,
        ]
        return [token for token in tokens if token]

    def subscribes_to(self, event_type: str) -> bool:
        return ALL_EVENTS in self.events or event_type in self.events


class EventDelivery(Timestamped):
    """One event to one destination: attempted until it succeeds, is given up on, or the
    destination goes away. ``sending`` rows carry a lease; an expired lease means the worker
    died and the row is claimed again."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SENDING = "sending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    id = models.CharField(
        primary_key=True, max_length=64, default=new_event_delivery_id, editable=False
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="event_deliveries"
    )
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    destination = models.ForeignKey(
        EventDestination, on_delete=models.CASCADE, related_name="deliveries"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # Attempts in the current cycle (a redelivery starts a new one); the retry schedule
    # indexes on it.
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=32, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    response_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    # The first kilobyte of the last response body, and why the last attempt failed.
    response_body = models.TextField(blank=True)
    error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # The fan-out may run twice for an event (a retry, two workers): one row each.
            models.UniqueConstraint(fields=["event", "destination"], name="edlv_event_destination")
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="edlv_status_next"),
            models.Index(fields=["destination", "-created_at"], name="edlv_destination_created"),
            models.Index(fields=["destination", "status"], name="edlv_destination_status"),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"
