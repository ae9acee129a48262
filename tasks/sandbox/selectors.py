"""Reads of the sandbox portals' persisted state."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Sum

from tasks.sandbox.accounts import SandboxLogin, ServiceAccount
from tasks.sandbox.models import Cancellation, Payment, PortalLayout
from tasks.sandbox.records import Bill, Reservation, hotel_reservations, utility_bills


def sandbox_layout(slug: str) -> str:
    row = PortalLayout.objects.filter(portal=slug).first()
    return row.layout if row else PortalLayout.Layout.CLASSIC


@dataclass(frozen=True)
class Balance:
    latest: Bill
    paid: Decimal
    balance: Decimal

    @property
    def settled(self) -> bool:
        return self.balance <= 0


def account_payments(*, portal: str, login: SandboxLogin, account: ServiceAccount) -> list[Payment]:
    return list(
        Payment.objects.filter(
            portal=portal, username=login.username, account_number=account.number
        ).order_by("-created_at")
    )


def account_balance(*, portal: str, login: SandboxLogin, account: ServiceAccount) -> Balance:
    """What is owed on the newest bill after the payments made since it was issued."""
    latest = utility_bills(portal, login, account)[0]
    paid = Payment.objects.filter(
        portal=portal,
        username=login.username,
        account_number=account.number,
        created_at__date__gte=latest.statement_date,
    ).aggregate(total=Sum("amount"))["total"] or Decimal("0.00")
    return Balance(latest=latest, paid=paid, balance=latest.amount_due - paid)


def payment_get(*, portal: str, login: SandboxLogin, confirmation_number: str) -> Payment | None:
    return Payment.objects.filter(
        portal=portal, username=login.username, confirmation_number=confirmation_number
    ).first()


@dataclass(frozen=True)
class Stay:
    reservation: Reservation
    cancellation: Cancellation | None

    @property
    def status(self) -> str:
        return "Cancelled" if self.cancellation else "Confirmed"


def member_stays(login: SandboxLogin) -> list[Stay]:
    cancelled = {
        c.reservation_number: c
        for c in Cancellation.objects.filter(portal="harbor", username=login.username)
    }
    return [
        Stay(reservation=r, cancellation=cancelled.get(r.confirmation_number))
        for r in hotel_reservations(login)
    ]
