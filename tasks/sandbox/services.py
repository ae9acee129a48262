"""Writes of the sandbox portals: layout switches, payments, cancellations."""

from __future__ import annotations

import secrets
from datetime import date
from decimal import Decimal

from django.db import IntegrityError, transaction

from deck.errors import InvalidInput
from tasks.sandbox.accounts import SandboxLogin, ServiceAccount, sandbox_portals
from tasks.sandbox.models import Cancellation, Payment, PortalLayout

CONFIRMATION_PREFIX = {"brightwater": "BW", "cascade": "CPG"}


def sandbox_layout_set(*, slug: str, layout: str) -> PortalLayout:
    """Idempotent upsert of a portal's layout."""
    if slug not in {portal.slug for portal in sandbox_portals()}:
        raise InvalidInput(f"No sandbox portal {slug!r}.", field="slug")
    if layout not in PortalLayout.Layout.values:
        raise InvalidInput(
            f"layout must be one of {', '.join(PortalLayout.Layout.values)}.", field="layout"
        )
    row, _ = PortalLayout.objects.update_or_create(portal=slug, defaults={"layout": layout})
    return row


def _number(prefix: str) -> str:
    return f"{prefix}-{secrets.randbelow(10**9):09d}"


def sandbox_payment_create(
    *,
    portal: str,
    login: SandboxLogin,
    account: ServiceAccount,
    amount: Decimal,
    payment_date: date,
    method: str,
    last4: str,
) -> Payment:
    """One row per submitted payment, with a fresh confirmation number."""
    if amount <= 0:
        raise InvalidInput("The payment amount must be more than zero.", field="amount")
    return Payment.objects.create(
        portal=portal,
        username=login.username,
        account_number=account.number,
        amount=amount,
        payment_date=payment_date,
        method=method,
        last4=last4,
        confirmation_number=_number(CONFIRMATION_PREFIX[portal]),
    )


def sandbox_reservation_cancel(*, login: SandboxLogin, reservation_number: str) -> Cancellation:
    """Idempotent: cancelling a cancelled reservation returns its first cancellation."""
    existing = Cancellation.objects.filter(
        portal="harbor", username=login.username, reservation_number=reservation_number
    ).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return Cancellation.objects.create(
                portal="harbor",
                username=login.username,
                reservation_number=reservation_number,
                cancellation_number=_number("HXC"),
            )
    except IntegrityError:
        # Two clicks raced; the other one's row stands.
        return Cancellation.objects.get(
            portal="harbor", username=login.username, reservation_number=reservation_number
        )
