"""The front door of ``/v2``: request ids, API keys, rate limit, idempotency, envelopes.

Authentication happens here rather than per endpoint because the rate limit and
``Idempotency-Key`` are both scoped to the key's organization and must run before the view.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from deck.api.envelope import deck_error_response, ensure_envelope
from deck.api.idempotency import idempotent_response
from deck.api.ratelimit import rate_limit_check
from deck.errors import AuthFailed, DeckError, RequestTooLarge
from deck.ids import new_request_id
from deck.selectors import api_key_authenticate

logger = logging.getLogger(__name__)

API_ROOT = "/v2/"
# The contract itself is public: reading it needs no key.
PUBLIC_PATHS = frozenset({"/v2/openapi.json", "/v2/docs"})
IDEMPOTENT_METHODS = frozenset({"POST", "PATCH", "DELETE"})


class ApiMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_ROOT):
            return self.get_response(request)
        request.request_id = new_request_id()  # type: ignore[attr-defined]
        try:
            _body_size_check(request)
            response = self._handle(request)
        except DeckError as exc:
            response = deck_error_response(request, exc)
        response = ensure_envelope(request, response)
        response["Request-Id"] = request.request_id  # type: ignore[attr-defined]
        return response

    def _handle(self, request: HttpRequest) -> HttpResponse:
        if request.path in PUBLIC_PATHS:
            return self.get_response(request)
        api_key = api_key_authenticate(_bearer_token(request))
        if api_key is None:
            raise AuthFailed("Missing, malformed or revoked API key.")
        request.api_key = api_key  # type: ignore[attr-defined]
        request.organization = api_key.organization  # type: ignore[attr-defined]
        rate_limit_check(api_key.organization_id)
        key = request.headers.get("Idempotency-Key")
        if key is not None and request.method in IDEMPOTENT_METHODS:
            return idempotent_response(
                request,
                organization=api_key.organization,
                key=key,
                get_response=self.get_response,
            )
        return self.get_response(request)


def _body_size_check(request: HttpRequest) -> None:
    """A body over DATA_UPLOAD_MAX_MEMORY_SIZE is refused up front with a 413 in the
    envelope; left to Django it surfaces as a bare 400 page or a 500 when first read."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    try:
        size = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        size = 0
    if limit is not None and size > limit:
        raise RequestTooLarge(f"The request body is {size} bytes; at most {limit} are accepted.")


def _bearer_token(request: HttpRequest) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""
