"""What the sandbox portals persist: layout switches and the writes their users make."""

from __future__ import annotations

from django.db import models


class PortalLayout(models.Model):
    """Which markup a portal serves; ``redesign`` moves and renames things on purpose."""

    class Layout(models.TextChoices):
        CLASSIC = "classic"
        REDESIGN = "redesign"

    portal = models.CharField(primary_key=True, max_length=32)
    layout = models.CharField(max_length=16, choices=Layout.choices, default=Layout.CLASSIC)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.portal}: {self.layout}"


class Payment(models.Model):
    """A bill payment made on a utility portal. Only the last four digits of the card or
    bank account are kept, as a real biller's receipt would."""

    class Method(models.TextChoices):
        CARD = "card"
        BANK = "bank"

    portal = models.CharField(max_length=32)
    username = models.CharField(max_length=200)
    account_number = models.CharField(max_length=64)
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    payment_date = models.DateField()
    method = models.CharField(max_length=8, choices=Method.choices)
    last4 = models.CharField(max_length=4)
    confirmation_number = models.CharField(max_length=32, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["portal", "username", "account_number"])]

    def __str__(self) -> str:
        return self.confirmation_number


class Cancellation(models.Model):
    """A cancelled hotel reservation; the reservation itself is generated, not stored."""

    portal = models.CharField(max_length=32)
    username = models.CharField(max_length=200)
    reservation_number = models.CharField(max_length=32)
    cancellation_number = models.CharField(max_length=32, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["portal", "username", "reservation_number"],
                name="sandbox_cancellation_once",
            )
        ]

    def __str__(self) -> str:
        return self.cancellation_number
