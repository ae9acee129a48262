"""The API's error envelope: ``{"errors": [{type, code, message, field?}], "request_id"}``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from deck.errors import DeckError, RateLimited

_GENERIC = {
    400: ("request", "input_invalid", "The request is not valid."),
    401: ("auth", "api_key_invalid", "A valid API key is required."),
    403: ("auth", "forbidden", "This API key may not do that."),
    404: ("request", "not_found", "No such endpoint."),
    405: ("request", "method_not_allowed", "This endpoint does not accept that method."),
    413: ("request", "request_too_large", "The request body is too large."),
    415: ("request", "unsupported_media_type", "Send JSON with Content-Type application/json."),
}
_SERVER_ERROR = ("api", "internal_error", "Something went wrong on our side; it was logged.")


def request_id_of(request: HttpRequest) -> str | None:
    return getattr(request, "request_id", None)


def error_response(
    request: HttpRequest, errors: Sequence[dict[str, Any]], *, status: int
) -> HttpResponse:
    response = JsonResponse(
        {"errors": list(errors), "request_id": request_id_of(request)}, status=status
    )
    return response


def deck_error_response(request: HttpRequest, exc: DeckError) -> HttpResponse:
    response = error_response(request, exc.as_dicts(), status=exc.status)
    if isinstance(exc, RateLimited):
        response["Retry-After"] = str(exc.retry_after)
    return response


def generic_error(status: int, message: str | None = None) -> dict[str, str]:
    type_, code, default_message = _GENERIC.get(status, _SERVER_ERROR)
    if status >= 500:
        type_, code, default_message = _SERVER_ERROR
    return {"type": type_, "code": code, "message": message or default_message}


def is_envelope(response: HttpResponse) -> bool:
    if not response.get("Content-Type", "").startswith("application/json"):
        return False
    try:
        body = json.loads(response.content)
    except ValueError:
        return False
    return isinstance(body, dict) and "errors" in body


def ensure_envelope(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """Rewrite an error that did not come from our handlers (Django's 404, 405, 500)."""
    if response.status_code < 400 or getattr(response, "streaming", False):
        return response
    if is_envelope(response):
        return response
    wrapped = error_response(
        request, [generic_error(response.status_code)], status=response.status_code
    )
    if response.status_code == 405 and response.has_header("Allow"):
        wrapped["Allow"] = response["Allow"]
    return wrapped


def field_path(location: Iterable[Any]) -> str:
    """``("body", "payload", "input", "start_date")`` → ``input.start_date``."""
    parts = list(location)
    if parts and parts[0] in {"body", "query", "path", "header", "form"}:
        source = parts.pop(0)
        # Ninja nests the whole body under the view's parameter name.
        if source == "body" and parts:
            parts.pop(0)
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path
