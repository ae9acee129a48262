"""Cascade Power & Gas: username sign-in, a security question, a forced account choice."""

from __future__ import annotations

import hmac

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tasks.sandbox.accounts import sandbox_authenticate, sandbox_login
from tasks.sandbox.documents import cascade_statement_pdf
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

SLUG = "cascade"
signed_in = portal_login_required(
    SLUG, login_url="sandbox:cascade_signin", choose_url="sandbox:cascade_choose"
)


def _home() -> str:
    return reverse("sandbox:cascade_overview")


@require_http_methods(["GET", "POST"])
def signin(request: HttpRequest) -> HttpResponse:
    error = ""
    username = ""
    if request.method == "POST":
        username = request.POST.get("username", "").strip()
        found = sandbox_authenticate(SLUG, username, request.POST.get("password", ""))
        # Cascade signs in by username only: an email in the box is refused like a typo.
        if found is not None and found.username.lower() == username.lower():
            response = HttpResponseRedirect(
                reverse("sandbox:cascade_challenge") + f"?next={next_path(request, SLUG, _home())}"
            )
            return state_write(
                response, SLUG, PortalState(username=found.username, stage=STAGE_PASSWORD)
            )
        error = "Username or password not recognised."
    return render_portal(
        request,
        SLUG,
        "signin.html",
        {"error": error, "username": username, "next": request.GET.get("next", "")},
        status=401 if error else 200,
    )


@require_http_methods(["GET", "POST"])
def challenge(request: HttpRequest) -> HttpResponse:
    state = state_read(request, SLUG)
    found = sandbox_login(SLUG, state.username) if state else None
    if state is None or found is None:
        return HttpResponseRedirect(reverse("sandbox:cascade_signin"))
    if state.stage == STAGE_READY:
        return HttpResponseRedirect(_home())
    error = ""
    if request.method == "POST":
        answer = " ".join(request.POST.get("answer", "").split()).casefold()
        if hmac.compare_digest(answer.encode(), found.security_answer.casefold().encode()):
            state.stage = STAGE_READY
            state.account = "" if found.multi_account else found.accounts[0].number
            target = (
                reverse("sandbox:cascade_choose")
                if found.multi_account
                else next_path(request, SLUG, _home())
            )
            return state_write(HttpResponseRedirect(target), SLUG, state)
        error = "That answer doesn't match our records."
    return render_portal(
        request,
        SLUG,
        "challenge.html",
        {"error": error, "question": found.security_question, "next": request.GET.get("next", "")},
        status=401 if error else 200,
    )


@require_POST
def signout(request: HttpRequest) -> HttpResponse:
    return state_clear(HttpResponseRedirect(reverse("sandbox:cascade_signin")), SLUG)


@require_http_methods(["GET", "POST"])
def choose_account(request: HttpRequest) -> HttpResponse:
    state = state_read(request, SLUG)
    found = sandbox_login(SLUG, state.username) if state else None
    if state is None or found is None or state.stage != STAGE_READY:
        return HttpResponseRedirect(reverse("sandbox:cascade_signin"))
    error = ""
    if request.method == "POST":
        wanted = request.POST.get("account", "")
        if wanted in {a.number for a in found.accounts}:
            state.account = wanted
            return state_write(HttpResponseRedirect(_home()), SLUG, state)
        error = "Please choose one of your accounts."
    return render_portal(
        request,
        SLUG,
        "choose.html",
        {"error": error, "accounts": found.accounts, "current": state.account, "login": found},
        status=400 if error else 200,
    )


def _context(visitor: Visitor) -> dict[str, object]:
    return {"visitor": visitor, "account": visitor.account, "accounts": visitor.login.accounts}


@require_GET
@signed_in
def overview(request: HttpRequest, visitor: Visitor) -> HttpResponse:
    account = visitor.account
    assert account is not None
    return render_portal(
        request,
        SLUG,
        "overview.html",
        {
            **_context(visitor),
            "balance": account_balance(portal=SLUG, login=visitor.login, account=account),
            "payments": account_payments(portal=SLUG, login=visitor.login, account=account)[:3],
        },
    )


@require_GET
@signed_in
def statements(request: HttpRequest, visitor: Visitor) -> HttpResponse:
    account = visitor.account
    assert account is not None
    return render_portal(
        request,
        SLUG,
        "statements.html",
        {**_context(visitor), "bills": utility_bills(SLUG, visitor.login, account)},
    )


@require_GET
@signed_in
def statement(request: HttpRequest, bill_id: str, visitor: Visitor) -> HttpResponse:
    account = visitor.account
    assert account is not None
    bill = utility_bill(SLUG, visitor.login, account, bill_id)
    if bill is None:
        raise Http404("No such statement")
    return render_portal(request, SLUG, "statement.html", {**_context(visitor), "bill": bill})


@require_GET
@signed_in
def statement_pdf(
    request: HttpRequest, account_number: str, bill_id: str, visitor: Visitor
) -> HttpResponse:
    return bill_pdf_response(
        slug=SLUG,
        visitor=visitor,
        account_number=account_number,
        bill_id=bill_id,
        render_pdf=cascade_statement_pdf,
        filename=f"CPG-statement-{account_number}-{bill_id}.pdf",
    )


@require_http_methods(["GET", "POST"])
@signed_in
def make_payment(request: HttpRequest, visitor: Visitor) -> HttpResponse:
    return payment_page(
        request,
        slug=SLUG,
        visitor=visitor,
        context=_context(visitor),
        default_method="bank",
        confirmation_url="sandbox:cascade_payment",
    )


@require_GET
@signed_in
def payment(request: HttpRequest, reference: str, visitor: Visitor) -> HttpResponse:
    made = payment_get(portal=SLUG, login=visitor.login, confirmation_number=reference)
    if made is None:
        raise Http404("No such payment")
    return render_portal(request, SLUG, "payment.html", {**_context(visitor), "payment": made})
