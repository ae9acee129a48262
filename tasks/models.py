from __future__ import annotations

from django.db import models

from deck.ids import new_agent_id, new_credential_id, new_source_id, new_task_id
from deck.models import Organization, Timestamped

STAGE_SUCCESSES_REQUIRED = 3  # seed 001: a task graduates after 3 successful runs per stage


class Agent(Timestamped):
    id = models.CharField(primary_key=True, max_length=80, default=new_agent_id, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="agents")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)

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


class Task(Timestamped):
    class Status(models.TextChoices):
        LEARNING = "learning"
        TEST = "test"
        LIVE = "live"

    NEXT_STATUS = {Status.LEARNING: Status.TEST, Status.TEST: Status.LIVE}

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
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def tokenized_fields(self) -> list[str]:
        return list(self.input_schema.get("tokenized") or [])
