"""The generated records of each login: bills, reservations, payslips.

Everything is derived from a hash of (portal, login, record key), so the same login always
sees the same records and two logins see different ones. Dates hang off ``sandbox_today()``:
the server's UTC date, or ``settings.SANDBOX_TODAY`` (``DECK_SANDBOX_TODAY``) when a test, demo
or benchmark pins it. Records are therefore stable within a day: bills move once a month (a
statement on the 3rd covering the previous calendar month, due on the 24th), payslips every
other Friday, and hotel stays sit at fixed offsets from today.
"""

from __future__ import annotations

import calendar
import hashlib
import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.utils import timezone

from tasks.sandbox.accounts import SandboxLogin, ServiceAccount

CENT = Decimal("0.01")
BILL_MONTHS = 12
PAYSLIP_COUNT = 12
# Paystream pays every other Friday counted from this one.
PAYDAY_ANCHOR = date(2025, 1, 10)


def sandbox_today() -> date:
    pinned = getattr(settings, "SANDBOX_TODAY", None)
    if isinstance(pinned, date):
        return pinned
    if isinstance(pinned, str) and pinned:
        return date.fromisoformat(pinned)
    return timezone.now().date()


def seeded(*parts: object) -> random.Random:
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))  # noqa: S311 - demo data, not secrets


def money(value: float | Decimal) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


# -- utility bills ------------------------------------------------------------------------


@dataclass(frozen=True)
class Bill:
    account: ServiceAccount
    period_start: date
    period_end: date
    statement_date: date
    due_date: date
    usage: int
    unit: str
    rate: Decimal
    supply: Decimal
    delivery: Decimal
    basic_charge: Decimal
    taxes: Decimal
    amount_due: Decimal
    previous_balance: Decimal

    @property
    def id(self) -> str:
        """``YYYY-MM`` of the statement: unique per account."""
        return self.statement_date.strftime("%Y-%m")

    @property
    def month_label(self) -> str:
        return self.period_start.strftime("%B %Y")


# Monthly consumption profile (Jan..Dec), as a share of the yearly average.
_ELECTRIC_SEASON = (1.25, 1.15, 1.0, 0.85, 0.8, 0.95, 1.2, 1.3, 1.0, 0.85, 0.95, 1.2)
_GAS_SEASON = (1.9, 1.7, 1.35, 0.9, 0.55, 0.35, 0.3, 0.3, 0.45, 0.85, 1.35, 1.8)


def utility_bills(portal: str, login: SandboxLogin, account: ServiceAccount) -> list[Bill]:
    """The last twelve monthly bills of an account, newest first. A bill covers one calendar
    month and is issued on the 3rd of the next one, due on the 24th."""
    today = sandbox_today()
    first_of_month = today.replace(day=1)
    # The statement for last month exists from the 3rd; before that the newest is older.
    newest_statement = first_of_month if today.day >= 3 else _add_months(first_of_month, -1)
    base = seeded(portal, login.username, account.number)
    average = base.randint(520, 980) if account.service == "electric" else base.randint(38, 72)
    bills = []
    previous = money(0)
    statements = [_add_months(newest_statement, -n) for n in range(BILL_MONTHS - 1, -1, -1)]
    for statement_month in statements:
        period_start = _add_months(statement_month, -1)
        period_end = statement_month - timedelta(days=1)
        rng = seeded(portal, login.username, account.number, period_start.isoformat())
        if account.service == "electric":
            season = _ELECTRIC_SEASON[period_start.month - 1]
            usage = round(average * season * rng.uniform(0.88, 1.12))
            rate = Decimal("0.1184") if portal == "brightwater" else Decimal("0.1237")
            delivery_rate = Decimal("0.0462")
            basic = Decimal("11.50") if portal == "brightwater" else Decimal("9.75")
        else:
            season = _GAS_SEASON[period_start.month - 1]
            usage = max(4, round(average * season * rng.uniform(0.85, 1.15)))
            rate = Decimal("1.0840")
            delivery_rate = Decimal("0.4125")
            basic = Decimal("12.00")
        supply = money(usage * rate)
        delivery = money(usage * delivery_rate)
        taxes = money((supply + delivery + basic) * Decimal("0.0385"))
        amount = supply + delivery + basic + taxes
        bills.append(
            Bill(
                account=account,
                period_start=period_start,
                period_end=period_end,
                statement_date=statement_month.replace(day=3),
                due_date=statement_month.replace(day=24),
                usage=usage,
                unit=account.unit,
                rate=rate,
                supply=supply,
                delivery=delivery,
                basic_charge=basic,
                taxes=taxes,
                amount_due=amount,
                previous_balance=previous,
            )
        )
        previous = amount
    bills.reverse()
    return bills


def utility_bill(
    portal: str, login: SandboxLogin, account: ServiceAccount, bill_id: str
) -> Bill | None:
    for bill in utility_bills(portal, login, account):
        if bill.id == bill_id:
            return bill
    return None


# -- hotel reservations -------------------------------------------------------------------

_HOTELS = (
    ("Harbor Grand Seattle Waterfront", "1201 Alaskan Way, Seattle, WA 98101"),
    ("Harbor Suites Chicago Loop", "233 S Wacker Drive, Chicago, IL 60606"),
    ("Harbor Inn Santa Monica Pier", "1700 Ocean Avenue, Santa Monica, CA 90401"),
    ("Harbor House Boston Seaport", "470 Atlantic Avenue, Boston, MA 02210"),
    ("Harbor Resort Maui Kaanapali", "2525 Kaanapali Parkway, Lahaina, HI 96761"),
    ("Harbor Lodge Denver Union Station", "1701 Wynkoop Street, Denver, CO 80202"),
    ("Harbor Grand New York Midtown", "151 W 54th Street, New York, NY 10019"),
    ("Harbor Suites Austin Riverside", "300 E Riverside Drive, Austin, TX 78704"),
)
_ROOMS = (
    ("King Deluxe", 189),
    ("Two Queen Beds", 172),
    ("Junior Suite", 264),
    ("King Room, Harbor View", 231),
    ("Studio Suite", 205),
)
HOTEL_TAX = Decimal("0.145")


@dataclass(frozen=True)
class Reservation:
    confirmation_number: str
    hotel_name: str
    hotel_address: str
    room_type: str
    check_in: date
    check_out: date
    guests: int
    nightly_rate: Decimal
    taxes: Decimal
    total_cost: Decimal
    booked_on: date

    @property
    def nights(self) -> int:
        return (self.check_out - self.check_in).days

    @property
    def room_subtotal(self) -> Decimal:
        return self.nightly_rate * self.nights


def hotel_reservations(login: SandboxLogin) -> list[Reservation]:
    """Every stay of a member, past and future, soonest check-in first."""
    today = sandbox_today()
    rng = seeded("harbor", login.username)
    offsets = [rng.randint(9, 160) for _ in range(rng.randint(3, 4))]
    offsets += [-rng.randint(20, 400) for _ in range(rng.randint(3, 5))]
    reservations = []
    for index, offset in enumerate(offsets):
        stay = seeded("harbor", login.username, index)
        hotel, address = stay.choice(_HOTELS)
        room, rate = stay.choice(_ROOMS)
        nights = stay.randint(1, 5)
        check_in = today + timedelta(days=offset)
        nightly = money(rate + stay.randint(-12, 40))
        subtotal = nightly * nights
        taxes = money(subtotal * HOTEL_TAX)
        reservations.append(
            Reservation(
                confirmation_number=f"{stay.randint(10, 99)}{stay.randint(100000, 999999)}",
                hotel_name=hotel,
                hotel_address=address,
                room_type=room,
                check_in=check_in,
                check_out=check_in + timedelta(days=nights),
                guests=stay.randint(1, 4),
                nightly_rate=nightly,
                taxes=taxes,
                total_cost=subtotal + taxes,
                booked_on=check_in - timedelta(days=stay.randint(14, 120)),
            )
        )
    reservations.sort(key=lambda r: r.check_in)
    return reservations


# -- payslips ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Payslip:
    pay_date: date
    period_start: date
    period_end: date
    gross_pay: Decimal
    retirement: Decimal
    health: Decimal
    federal_tax: Decimal
    state_tax: Decimal
    social_security: Decimal
    medicare: Decimal
    net_pay: Decimal
    hours: Decimal

    @property
    def id(self) -> str:
        return self.pay_date.isoformat()

    @property
    def taxes(self) -> Decimal:
        return self.federal_tax + self.state_tax + self.social_security + self.medicare

    @property
    def deductions(self) -> Decimal:
        return self.retirement + self.health


@dataclass(frozen=True)
class Employee:
    full_name: str
    employee_id: str
    email: str
    employer: str
    department: str
    job_title: str
    annual_salary: Decimal
    pay_frequency: str
    hire_date: date
    work_location: str
    bank_last4: str


_DEPARTMENTS = (
    ("Finance", "Senior Accountant"),
    ("Engineering", "Software Engineer II"),
    ("Operations", "Logistics Coordinator"),
    ("Customer Success", "Account Manager"),
    ("Marketing", "Content Strategist"),
)


def payroll_employee(login: SandboxLogin) -> Employee:
    rng = seeded("paystream", login.username, "profile")
    department, title = rng.choice(_DEPARTMENTS)
    return Employee(
        full_name=login.full_name,
        employee_id=login.employee_id,
        email=login.email,
        employer="Northwind Logistics, Inc.",
        department=department,
        job_title=title,
        annual_salary=Decimal(rng.randrange(58_000, 142_000, 500)),
        pay_frequency="Biweekly",
        hire_date=date(rng.randint(2015, 2023), rng.randint(1, 12), rng.randint(1, 28)),
        work_location=rng.choice(("Seattle, WA", "Remote - Oregon", "Tacoma, WA")),
        bank_last4=f"{rng.randint(0, 9999):04d}",
    )


def payroll_payslips(login: SandboxLogin) -> list[Payslip]:
    """The last twelve biweekly payslips, newest first."""
    today = sandbox_today()
    employee = payroll_employee(login)
    periods = (today - PAYDAY_ANCHOR).days // 14
    latest = PAYDAY_ANCHOR + timedelta(days=14 * periods)
    base_gross = money(employee.annual_salary / 26)
    payslips = []
    for n in range(PAYSLIP_COUNT):
        pay_date = latest - timedelta(days=14 * n)
        rng = seeded("paystream", login.username, pay_date.isoformat())
        # An occasional bonus or overtime line keeps the periods from being identical.
        extra = money(rng.choice((0, 0, 0, 0, 125, 250, 410.5)))
        gross = base_gross + extra
        retirement = money(gross * Decimal("0.05"))
        health = Decimal("86.40")
        taxable = gross - retirement - health
        federal = money(taxable * Decimal("0.118"))
        state = money(taxable * Decimal("0.0475"))
        social_security = money(gross * Decimal("0.062"))
        medicare = money(gross * Decimal("0.0145"))
        net = gross - retirement - health - federal - state - social_security - medicare
        payslips.append(
            Payslip(
                pay_date=pay_date,
                period_start=pay_date - timedelta(days=20),
                period_end=pay_date - timedelta(days=7),
                gross_pay=gross,
                retirement=retirement,
                health=health,
                federal_tax=federal,
                state_tax=state,
                social_security=social_security,
                medicare=medicare,
                net_pay=net,
                hours=Decimal("80.00"),
            )
        )
    return payslips
