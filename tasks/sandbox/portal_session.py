"""Each portal's own signed session cookie.

The console uses Django's ``sessionid`` on the same host, so a portal keeps its state in a
cookie of its own (``sbx_<slug>``, signed, scoped to ``/sandbox/<slug>/``): signing in to a
portal never touches a console session and the reverse.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import wraps
from typing import Any

from django.core import signing
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from tasks.sandbox.accounts import SandboxLogin, ServiceAccount, sandbox_login

# A portal session lasts a working day, as a bank or utility site's would (at most).
MAX_AGE = 8 * 3600

STAGE_PASSWORD = "password"  # password accepted, second factor pending
STAGE_READY = "ready"  # fully signed in


@dataclass
class PortalState:
    username: str
    stage: str
    account: str = ""


def cookie_name(slug: str) -> str:
    return f"sbx_{slug}"


def _salt(slug: str) -> str:
    return f"deck.sandbox.{slug}"


def state_read(request: HttpRequest, slug: str) -> PortalState | None:
    raw = request.get_signed_cookie(
        cookie_name(slug), default=None, salt=_salt(slug), max_age=MAX_AGE
    )
    if not raw:
        return None
    try:
        data = json.loads(raw)
        return PortalState(**data)
    except (ValueError, TypeError):
        return None


def state_write(response: HttpResponse, slug: str, state: PortalState) -> HttpResponse:
    response.set_signed_cookie(
        cookie_name(slug),
        json.dumps(asdict(state)),
        salt=_salt(slug),
        max_age=MAX_AGE,
        path=f"/sandbox/{slug}/",
        httponly=True,
        samesite="Lax",
    )
    return response


def state_clear(response: HttpResponse, slug: str) -> HttpResponse:
    response.delete_cookie(cookie_name(slug), path=f"/sandbox/{slug}/", samesite="Lax")
    return response


def signed_value(value: str, *, slug: str, purpose: str) -> str:
    return signing.dumps(value, salt=f"{_salt(slug)}.{purpose}")


def unsigned_value(raw: str | None, *, slug: str, purpose: str, max_age: int) -> str | None:
    if not raw:
        return None
    try:
        value = signing.loads(raw, salt=f"{_salt(slug)}.{purpose}", max_age=max_age)
    except signing.BadSignature:
        return None
    return value if isinstance(value, str) else None


@dataclass
class Visitor:
    """The signed-in user of a portal request."""

    state: PortalState
    login: SandboxLogin

    @property
    def account(self) -> ServiceAccount | None:
        for account in self.login.accounts:
            if account.number == self.state.account:
                return account
        return self.login.accounts[0] if self.login.accounts else None


ViewFunc = Callable[..., HttpResponse]


def portal_login_required(
    slug: str, *, login_url: str, choose_url: str | None = None
) -> Callable[[ViewFunc], ViewFunc]:
    """Pass ``visitor`` to the view when the portal cookie is fully signed in, else send
    the browser to the portal's sign-in page. With ``choose_url``, a login holding several
    accounts must pick one there first."""

    def decorator(view: ViewFunc) -> ViewFunc:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            state = state_read(request, slug)
            login = sandbox_login(slug, state.username) if state else None
            if state is None or login is None or state.stage != STAGE_READY:
                target = reverse(login_url)
                if request.method == "GET":
                    target += f"?next={request.path}"
                return HttpResponseRedirect(target)
            if choose_url and login.multi_account and not state.account:
                return HttpResponseRedirect(reverse(choose_url))
            return view(request, *args, visitor=Visitor(state=state, login=login), **kwargs)

        return wrapper

    return decorator


def next_path(request: HttpRequest, slug: str, default: str) -> str:
    """The ``next`` the sign-in page was given, when it stays inside this portal."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate.startswith(f"/sandbox/{slug}/") and "//" not in candidate:
        return candidate
    return default
