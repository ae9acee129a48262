"""Brightwater Energy: email sign-in, an authenticator code, service accounts, bills."""

from __future__ import annotations

import pyotp
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tasks.sandbox.accounts import sandbox_authenticate, sandbox_login
from tasks.sandbox.documents import brightwater_bill_pdf
from tasks.sandbox.portal_session import (
    STAGE_PASSWORD,
    STAGE_READY,
    PortalState,
    Visitor,
    next_path,
    portal_login_required,
    state_clear,
    state_read,
    state_write,
)
from tasks.sandbox.records import utility_bill, utility_bills
from tasks.sandbox.selectors import account_balance, account_payments, payment_get
from tasks.sandbox.views.common import render_portal
from tasks.sandbox.views.utility import bill_pdf_response, payment_page

SLUG = "brightwater"
signed_in = portal_login_required(SLUG, login_url="sandbox:brightwater_login")


def _home() -> str:
    return reverse("sandbox:brightwater_home")


@require_http_methods(["GET", "POST"])
def login(request: HttpRequest) -> HttpResponse:
    error = ""
    email = ""
    if request.method == "POST":
        email = request.POST.get("email", "").strip()
        found = sandbox_authenticate(SLUG, email, request.POST.get("password", ""))
        if found is not None:
            response = HttpResponseRedirect(
                reverse("sandbox:brightwater_mfa") + f"?next={next_path(request, SLUG, _home())}"
            )
            return state_write(
                response, SLUG, PortalState(username=found.username, stage=STAGE_PASSWORD)
            )
        error = "The email or password you entered is incorrect."
    return render_portal(
        request,
        SLUG,
        "login.html",
        {"error": error, "email": email, "next": request.GET.get("next", "")},
        status=401 if error else 200,
    )


@require_http_methods(["GET", "POST"])
def mfa(request: HttpRequest) -> HttpResponse:
    state = state_read(request, SLUG)
    found = sandbox_login(SLUG, state.username) if state else None
    if state is None or found is None:
        return HttpResponseRedirect(reverse("sandbox:brightwater_login"))
    if state.stage == STAGE_READY:
        return HttpResponseRedirect(_home())
    error = ""
    if request.method == "POST":
        code = "".join(request.POST.get("code", "").split())
        # One 30 s step either side: phones and servers drift.
        if (
            code.isdigit()
            and len(code) == 6
            and pyotp.TOTP(found.totp_secret).verify(code, valid_window=1)
        ):
            state.stage = STAGE_READY
            state.account = found.accounts[0].number
            return state_write(HttpResponseRedirect(next_path(request, SLUG, _home())), SLUG, state)
        error = "That code didn't work. Check your authenticator app and try again."
    return render_portal(
        request,
        SLUG,
        "mfa.html",
        {"error": error, "next": request.GET.get("next", ""), "email": found.email},
        status=401 if error else 200,
    )


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    return state_clear(HttpResponseRedirect(reverse("sandbox:brightwater_login")), SLUG)


@require_POST
@signed_in
def switch_account(request: HttpRequest, visitor: Visitor) -> HttpResponse:
    wanted = request.POST.get("account", "")
    if wanted not in {a.number for a in visitor.login.accounts}:
        raise Http404("No such account")
    visitor.state.account = wanted
    return state_write(HttpResponseRedirect(next_path(request, SLUG, _home())), SLUG, visitor.state)


def _account_context(visitor: Visitor) -> dict[str, object]:
    return {"visitor": visitor, "account": visitor.account, "accounts": visitor.login.accounts}


@require_GET
@signed_in
def home(request: HttpRequest, visitor: Visitor) -> HttpResponse:
    account = visitor.account
    assert account is not None
    balance = account_balance(portal=SLUG, login=visitor.login, account=account)
    bills = utility_bills(SLUG, visitor.login, account)
    return render_portal(
        request,
        SLUG,
        "home.html",
        {
            **_account_context(visitor),
            "balance": balance,
            "recent": bills[:3],
            "payments": account_payments(portal=SLUG, login=visitor.login, account=account)[:3],
        },
    )


@require_GET
@signed_in
def billing(request: HttpRequest, visitor: Visitor) -> HttpResponse:
    account = visitor.account
    assert account is not None
    balance = account_balance(portal=SLUG, login=visitor.login, account=account)
    bills = utility_bills(SLUG, visitor.login, account)
    return render_portal(
        request,
        SLUG,
        "billing.html",
        {**_account_context(visitor), "bills": bills, "balance": balance},
    )


@require_GET
@signed_in
def bill_detail(request: HttpRequest, bill_id: str, visitor: Visitor) -> HttpResponse:
    account = visitor.account
    assert account is not None
    bill = utility_bill(SLUG, visitor.login, account, bill_id)
    if bill is None:
        raise Http404("No such bill")
    balance = account_balance(portal=SLUG, login=visitor.login, account=account)
    return render_portal(
        request,
        SLUG,
        "bill_detail.html",
        {**_account_context(visitor), "bill": bill, "balance": balance},
    )


@require_GET
@signed_in
def bill_pdf(
    request: HttpRequest, account_number: str, bill_id: str, visitor: Visitor
) -> HttpResponse:
    return bill_pdf_response(
        slug=SLUG,
        visitor=visitor,
        account_number=account_number,
        bill_id=bill_id,
        render_pdf=brightwater_bill_pdf,
        filename=f"brightwater-{account_number}-{bill_id}.pdf",
    )


@require_http_methods(["GET", "POST"])
@signed_in
def pay(request: HttpRequest, visitor: Visitor) -> HttpResponse:
    return payment_page(
        request,
        slug=SLUG,
        visitor=visitor,
        context=_account_context(visitor),
        default_method="card",
        confirmation_url="sandbox:brightwater_payment",
    )


@require_GET
@signed_in
def payment(request: HttpRequest, confirmation_number: str, visitor: Visitor) -> HttpResponse:
    made = payment_get(portal=SLUG, login=visitor.login, confirmation_number=confirmation_number)
    if made is None:
        raise Http404("No such payment")
    account = next((a for a in visitor.login.accounts if a.number == made.account_number), None)
    return render_portal(
        request,
        SLUG,
        "payment.html",
        {**_account_context(visitor), "payment": made, "paid_account": account},
    )
