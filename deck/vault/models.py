"""Envelope encryption at rest: per-organization data keys, and the tokens they encrypt.

Neither table ever holds plaintext: a data key is stored wrapped by a key-encryption key
from ``settings.VAULT_KEYS``, and a token's value is stored encrypted by its data key.
"""

from __future__ import annotations

from django.db import models

from deck.ids import new_data_key_id, new_token_id
from deck.models import Organization, Timestamped


class DataKey(Timestamped):
    """An organization's AES-256 data key, wrapped (nonce + ciphertext) by the KEK ``kek_id``."""

    id = models.CharField(primary_key=True, max_length=64, default=new_data_key_id, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="vault_data_keys"
    )
    wrapped_key = models.BinaryField()
    kek_id = models.CharField(max_length=32, db_index=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            # Two concurrent first stores for an organization race to create its key; this
            # makes the loser fail, re-read, and use the winner's.
            models.UniqueConstraint(
                fields=["organization"],
                condition=models.Q(active=True),
                name="vault_datakey_one_active_per_org",
            )
        ]

    def __str__(self) -> str:
        return f"{self.id} (KEK {self.kek_id})"


class VaultToken(models.Model):
    """One encrypted value (nonce + ciphertext), bound to its organization, purpose and id."""

    id = models.CharField(primary_key=True, max_length=64, default=new_token_id, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="vault_tokens"
    )
    # RESTRICT, not PROTECT: a data key in use cannot be deleted on its own, yet deleting the
    # organization still cascades to both (PROTECT would block that cascade).
    data_key = models.ForeignKey(DataKey, on_delete=models.RESTRICT, related_name="tokens")
    purpose = models.CharField(max_length=64)
    ciphertext = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.id} ({self.purpose})"
