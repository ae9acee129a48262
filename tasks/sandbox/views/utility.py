"""What the two utility portals do alike behind their own markup: serve a bill's PDF and take
a payment. Each portal keeps its own URLs, wording, templates and PDF layout."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from tasks.sandbox.forms import PaymentForm
from tasks.sandbox.portal_session import Visitor
from tasks.sandbox.records import utility_bill
from tasks.sandbox.selectors import account_balance
from tasks.sandbox.services import sandbox_payment_create
from tasks.sandbox.views.common import file_response, render_portal


def bill_pdf_response(
    *,
    slug: str,
    visitor: Visitor,
    account_number: str,
    bill_id: str,
    render_pdf: Callable[..., bytes],
    filename: str,
) -> HttpResponse:
    """The bill's PDF, for an account of this login only."""
    account = next((a for a in visitor.login.accounts if a.number == account_number), None)
    bill = utility_bill(slug, visitor.login, account, bill_id) if account else None
    if bill is None:
        raise Http404("No such bill")
    return file_response(
        render_pdf(visitor.login, bill), content_type="application/pdf", filename=filename
    )


def payment_page(
    request: HttpRequest,
    *,
    slug: str,
    visitor: Visitor,
    context: dict[str, Any],
    default_method: str,
    confirmation_url: str,
) -> HttpResponse:
    """The pay form (prefilled with the balance); a valid POST stores the payment and
    redirects to ``confirmation_url`` (a URL name taking the confirmation number)."""
    account = visitor.account
    if account is None:
        raise Http404("No account selected")
    balance = account_balance(portal=slug, login=visitor.login, account=account)
    if request.method == "POST":
        form = PaymentForm(request.POST)
        if form.is_valid():
            made = sandbox_payment_create(
                portal=slug,
                login=visitor.login,
                account=account,
                amount=form.cleaned_data["amount"],
                payment_date=form.cleaned_data["payment_date"],
                method=form.cleaned_data["method"],
                last4=form.cleaned_data["last4"],
            )
            return HttpResponseRedirect(reverse(confirmation_url, args=[made.confirmation_number]))
    else:
        form = PaymentForm(initial={"amount": max(balance.balance, 0), "method": default_method})
    return render_portal(
        request,
        slug,
        "pay.html",
        {**context, "form": form, "balance": balance},
        status=400 if form.errors else 200,
    )
