"""What console views share: render a page or one of its partials, turn an object outside
the organization into a 404, and send the browser on after a successful POST."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from django.contrib import messages
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django_htmx.http import HttpResponseClientRedirect

from console.membership import ConsoleRequest
from deck.errors import DeckError, NotFound

T = TypeVar("T")
PAGE_SIZE = 25


def render_page(
    request: ConsoleRequest,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    partial: str | None = None,
) -> HttpResponse:
    """The whole page, or its ``partial`` when htmx asks for a piece of it. A history restore
    (back button after the cache expired) replaces the whole body, so it gets the page."""
    name = template
    if partial and request.htmx and not request.htmx.history_restore_request:
        name = f"{template}#{partial}"
    response = render(request, name, context)
    # One URL answers with a page or a fragment; caches must keep them apart.
    patch_vary_headers(response, ("HX-Request",))
    return response


def get_or_404(selector: Callable[..., T], **kwargs: Any) -> T:
    """Call an organization-scoped selector; its ``NotFound`` (an unknown id, or another
    organization's) becomes a 404 page."""
    try:
        return selector(**kwargs)
    except NotFound as exc:
        raise Http404(exc.message) from exc


def act(request: ConsoleRequest, action: Callable[[], T], *, success: str) -> T | None:
    """Run a console button's service call: a refusal (``DeckError``) becomes an error
    message and None, success the ``success`` message and the call's result."""
    try:
        result = action()
    except DeckError as error:
        messages.error(request, error.message)
        return None
    messages.success(request, success)
    return result


def redirect_after_post(request: ConsoleRequest, url: str) -> HttpResponse:
    """htmx follows an ``HX-Redirect`` with a full page load; a plain form gets a 302."""
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


def paginate(request: ConsoleRequest, queryset: QuerySet[Any]) -> Page[Any]:
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
