"""The demo logins of every sandbox portal: who can sign in, with what, and what they hold.

Other suites import these (``sandbox_logins("brightwater")``) to build credentials, so the
values here are the contract: change one and every test that logs in changes with it. Any
password other than the one listed is wrong; ``WRONG_PASSWORD`` is a convenient one.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field, replace
from typing import Any

WRONG_PASSWORD = "definitely-not-the-password-1"


@dataclass(frozen=True)
class Portal:
    slug: str
    name: str
    vertical: str
    summary: str


@dataclass(frozen=True)
class ServiceAccount:
    """A utility service account: one premises, one meter, one kind of service."""

    number: str
    address: str
    meter: str
    service: str  # "electric" or "gas"
    nickname: str

    @property
    def unit(self) -> str:
        return "kWh" if self.service == "electric" else "therms"


@dataclass(frozen=True)
class SandboxLogin:
    portal: str
    username: str
    password: str
    full_name: str
    email: str = ""
    totp_secret: str = ""  # Brightwater: base32 seed of the authenticator app
    security_question: str = ""  # Cascade
    security_answer: str = ""  # Cascade, compared case-insensitively
    member_number: str = ""  # Harbor: signs in instead of the email
    employee_id: str = ""  # Paystream
    accounts: tuple[ServiceAccount, ...] = field(default=())
    description: str = ""

    @property
    def multi_account(self) -> bool:
        return len(self.accounts) > 1

    def identifiers(self) -> set[str]:
        """Everything the portal accepts in its username box, lower-cased."""
        return {v.lower() for v in (self.username, self.email, self.member_number) if v}

    def auth_credentials(self) -> dict[str, Any]:
        """The ``auth_credentials`` of a Deck credential for this login (credential_create)."""
        secrets: dict[str, Any] = {"username": self.username, "password": self.password}
        if self.totp_secret:
            secrets["totp_secret"] = self.totp_secret
        if self.security_answer:
            secrets["source_fields"] = {"security_answer": self.security_answer}
        return secrets


PORTALS: tuple[Portal, ...] = (
    Portal(
        "brightwater",
        "Brightwater Energy",
        "Electricity utility",
        "Email sign-in with an authenticator code, several service accounts, bills as PDFs.",
    ),
    Portal(
        "cascade",
        "Cascade Power & Gas",
        "Gas and power utility",
        "Username sign-in with a security question and an account chooser.",
    ),
    Portal(
        "harbor",
        "Harbor Hotels",
        "Hotel chain",
        "Member sign-in, upcoming and past stays, cancellations.",
    ),
    Portal(
        "paystream",
        "Paystream Payroll",
        "Payroll",
        "Employee self-service with payslips as PDF and CSV.",
    ),
)

_PET = "What was the name of your first pet?"

LOGINS: tuple[SandboxLogin, ...] = (
    # -- Brightwater Energy: email + password, then a TOTP code --------------------------
    SandboxLogin(
        portal="brightwater",
        username="dana.whitfield@example.com",
        email="dana.whitfield@example.com",
        password="Brightwater-Dana-2026!",
        full_name="Dana Whitfield",
        totp_secret="JBSWY3DPEHPK3PXPDANAWHITFIELD234",
        accounts=(
            ServiceAccount(
                "4417-2290-0183",
                "1840 Alder Street, Portland, OR 97205",
                "E-7730912",
                "electric",
                "Home",
            ),
        ),
        description="single account",
    ),
    SandboxLogin(
        portal="brightwater",
        username="marcus.ortiz@example.com",
        email="marcus.ortiz@example.com",
        password="Brightwater-Marcus-2026!",
        full_name="Marcus Ortiz",
        totp_secret="KRUGKIDROVUWG2ZAMJZG653OEBTG66BA",
        accounts=(
            ServiceAccount(
                "4417-3301-5527",
                "77 Willow Lane, Beaverton, OR 97005",
                "E-5510447",
                "electric",
                "Home",
            ),
            ServiceAccount(
                "4417-3301-6648",
                "2312 SE Division Street, Portland, OR 97202",
                "E-5510981",
                "electric",
                "Rental - Division St",
            ),
            ServiceAccount(
                "4417-3301-7714",
                "905 Industrial Way, Unit 4, Tigard, OR 97223",
                "E-6620135",
                "electric",
                "Workshop",
            ),
        ),
        description="three accounts",
    ),
    # -- Cascade Power & Gas: username + password, then a security question -------------
    SandboxLogin(
        portal="cascade",
        username="pnguyen",
        email="priya.nguyen@example.net",
        password="Cascade-Priya-2026!",
        full_name="Priya Nguyen",
        security_question=_PET,
        security_answer="Biscuit",
        accounts=(
            ServiceAccount(
                "CPG-100482-7",
                "415 Cedar Ridge Road, Bellevue, WA 98004",
                "G-88213",
                "gas",
                "Cedar Ridge - Gas",
            ),
        ),
        description="single account",
    ),
    SandboxLogin(
        portal="cascade",
        username="rkowalski",
        email="rob.kowalski@example.net",
        password="Cascade-Rob-2026!",
        full_name="Robert Kowalski",
        security_question=_PET,
        security_answer="Pepper",
        accounts=(
            ServiceAccount(
                "CPG-230915-2",
                "88 Lakeview Drive, Kirkland, WA 98033",
                "P-41092",
                "electric",
                "Lakeview - Power",
            ),
            ServiceAccount(
                "CPG-230915-3",
                "88 Lakeview Drive, Kirkland, WA 98033",
                "G-41093",
                "gas",
                "Lakeview - Gas",
            ),
            ServiceAccount(
                "CPG-318840-1",
                "12 Snoqualmie Pass Road, Cabin 3, Snoqualmie, WA 98065",
                "P-77310",
                "electric",
                "Cabin - Power",
            ),
        ),
        description="three accounts",
    ),
    # -- Harbor Hotels: member number or email + password ---------------------------------
    SandboxLogin(
        portal="harbor",
        username="ellen.park@example.org",
        email="ellen.park@example.org",
        member_number="HH40718823",
        password="Harbor-Ellen-2026!",
        full_name="Ellen Park",
        description="member with upcoming and past stays",
    ),
    SandboxLogin(
        portal="harbor",
        username="tomas.reyes@example.org",
        email="tomas.reyes@example.org",
        member_number="HH52290417",
        password="Harbor-Tomas-2026!",
        full_name="Tomás Reyes",
        description="member with upcoming and past stays",
    ),
    # -- Paystream Payroll: username + password, then "remember this device?" ------------
    SandboxLogin(
        portal="paystream",
        username="jlee",
        email="jordan.lee@northwind.example",
        employee_id="NW-10442",
        password="Paystream-Jordan-2026!",
        full_name="Jordan Lee",
        description="salaried employee",
    ),
    SandboxLogin(
        portal="paystream",
        username="amorgan",
        email="alex.morgan@northwind.example",
        employee_id="NW-20931",
        password="Paystream-Alex-2026!",
        full_name="Alex Morgan",
        description="salaried employee",
    ),
)


def sandbox_portals() -> tuple[Portal, ...]:
    return PORTALS


def sandbox_portal(slug: str) -> Portal:
    for portal in PORTALS:
        if portal.slug == slug:
            return portal
    raise KeyError(f"No sandbox portal {slug!r}")


def sandbox_logins(slug: str) -> list[SandboxLogin]:
    """Every demo login of a portal; the first is the primary (single-account) one."""
    sandbox_portal(slug)
    return [login for login in LOGINS if login.portal == slug]


def sandbox_login(slug: str, identifier: str) -> SandboxLogin | None:
    """The login whose username, email or member number is ``identifier``."""
    wanted = identifier.strip().lower()
    for login in sandbox_logins(slug):
        if wanted in login.identifiers():
            return login
    return None


def sandbox_primary_login(slug: str) -> SandboxLogin:
    return sandbox_logins(slug)[0]


def sandbox_multi_account_login(slug: str) -> SandboxLogin:
    """A login holding several service accounts (utilities only)."""
    for login in sandbox_logins(slug):
        if login.multi_account:
            return login
    raise KeyError(f"{slug!r} has no multi-account login")


def sandbox_wrong_login(slug: str) -> SandboxLogin:
    """The primary login with a password the portal refuses."""
    return replace(sandbox_primary_login(slug), password=WRONG_PASSWORD)


def sandbox_authenticate(slug: str, identifier: str, password: str) -> SandboxLogin | None:
    login = sandbox_login(slug, identifier)
    if login is None or not _same(login.password, password):
        return None
    return login


def _same(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode())
