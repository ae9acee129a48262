from __future__ import annotations

from django.db import models

from deck.ids import new_event_id
from deck.models import Organization


class Event(models.Model):
    """Something that happened, written in the same transaction as the change itself."""

    id = models.CharField(primary_key=True, max_length=64, default=new_event_id, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=64)
    # The object as the API returns it (tokenized fields never included).
    data = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="event_org_created"),
            models.Index(fields=["organization", "type"], name="event_org_type"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"
