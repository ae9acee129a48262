"""Paystream Payroll: sign-in, a "remember this device" interstitial, payslips."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tasks.sandbox.accounts import SandboxLogin, sandbox_authenticate, sandbox_login
from tasks.sandbox.documents import paystream_payslip_pdf, paystream_payslips_csv
from tasks.sandbox.portal_session import (
    STAGE_PASSWORD,
    STAGE_READY,
    PortalState,
    Visitor,
    next_path,
    portal_login_required,
    signed_value,
    state_clear,
    state_read,
    state_write,
    unsigned_value,
)
from tasks.sandbox.records import Payslip, payroll_employee, payroll_payslips
from tasks.sandbox.views.common import file_response, render_portal

SLUG = "paystream"
DEVICE_COOKIE = "sbx_paystream_device"
DEVICE_MAX_AGE = 30 * 24 * 3600
signed_in = portal_login_required(SLUG, login_url="sandbox:paystream_login")


def _home() -> str:
    return reverse("sandbox:paystream_home")


def _trusted(request: HttpRequest, login: SandboxLogin) -> bool:
    value = unsigned_value(
        request.COOKIES.get(DEVICE_COOKIE), slug=SLUG, purpose="device", max_age=DEVICE_MAX_AGE
    )
    return value == login.username


@require_http_methods(["GET", "POST"])
def login(request: HttpRequest) -> HttpResponse:
    error = ""
    username = ""
    if request.method == "POST":
        username = request.POST.get("username", "").strip()
        found = sandbox_authenticate(SLUG, username, request.POST.get("password", ""))
        if found is not None:
            target = next_path(request, SLUG, _home())
            if _trusted(request, found):
                state = PortalState(username=found.username, stage=STAGE_READY)
                return state_write(HttpResponseRedirect(target), SLUG, state)
            state = PortalState(username=found.username, stage=STAGE_PASSWORD)
            response = HttpResponseRedirect(reverse("sandbox:paystream_device") + f"?next={target}")
            return state_write(response, SLUG, state)
        error = "Invalid username or password."
    return render_portal(
        request,
        SLUG,
        "login.html",
        {"error": error, "username": username, "next": request.GET.get("next", "")},
        status=401 if error else 200,
    )


@require_http_methods(["GET", "POST"])
def device(request: HttpRequest) -> HttpResponse:
    state = state_read(request, SLUG)
    found = sandbox_login(SLUG, state.username) if state else None
    if state is None or found is None:
        return HttpResponseRedirect(reverse("sandbox:paystream_login"))
    if request.method == "POST":
        state.stage = STAGE_READY
        response = state_write(HttpResponseRedirect(next_path(request, SLUG, _home())), SLUG, state)
        if request.POST.get("remember") == "yes":
            response.set_cookie(
                DEVICE_COOKIE,
                signed_value(found.username, slug=SLUG, purpose="device"),
                max_age=DEVICE_MAX_AGE,
                path=f"/sandbox/{SLUG}/",
                httponly=True,
                samesite="Lax",
            )
        return response
    return render_portal(request, SLUG, "device.html", {"next": request.GET.get("next", "")})


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    return state_clear(HttpResponseRedirect(reverse("sandbox:paystream_login")), SLUG)


def _context(visitor: Visitor) -> dict[str, object]:
    return {"visitor": visitor, "employee": payroll_employee(visitor.login)}


@require_GET
@signed_in
def home(request: HttpRequest, visitor: Visitor) -> HttpResponse:
    slips = payroll_payslips(visitor.login)
    return render_portal(
        request, SLUG, "home.html", {**_context(visitor), "latest": slips[0], "recent": slips[:3]}
    )


@require_GET
@signed_in
def profile(request: HttpRequest, visitor: Visitor) -> HttpResponse:
    return render_portal(request, SLUG, "profile.html", _context(visitor))


@require_GET
@signed_in
def payslips(request: HttpRequest, visitor: Visitor) -> HttpResponse:
    return render_portal(
        request,
        SLUG,
        "payslips.html",
        {**_context(visitor), "payslips": payroll_payslips(visitor.login)},
    )


def _payslip(visitor: Visitor, payslip_id: str) -> Payslip:
    for slip in payroll_payslips(visitor.login):
        if slip.id == payslip_id:
            return slip
    raise Http404("No such payslip")


@require_GET
@signed_in
def payslip(request: HttpRequest, payslip_id: str, visitor: Visitor) -> HttpResponse:
    return render_portal(
        request, SLUG, "payslip.html", {**_context(visitor), "slip": _payslip(visitor, payslip_id)}
    )


@require_GET
@signed_in
def payslip_pdf(request: HttpRequest, payslip_id: str, visitor: Visitor) -> HttpResponse:
    slip = _payslip(visitor, payslip_id)
    return file_response(
        paystream_payslip_pdf(payroll_employee(visitor.login), slip),
        content_type="application/pdf",
        filename=f"payslip-{slip.id}.pdf",
    )


@require_GET
@signed_in
def payslip_csv(request: HttpRequest, payslip_id: str, visitor: Visitor) -> HttpResponse:
    slip = _payslip(visitor, payslip_id)
    return file_response(
        paystream_payslips_csv([slip]), content_type="text/csv", filename=f"payslip-{slip.id}.csv"
    )


@require_GET
@signed_in
def payslips_csv(request: HttpRequest, visitor: Visitor) -> HttpResponse:
    return file_response(
        paystream_payslips_csv(payroll_payslips(visitor.login)),
        content_type="text/csv",
        filename="payslips.csv",
    )
