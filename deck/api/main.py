"""The v2 API: one NinjaAPI, routers per resource, every failure in the error envelope."""

from __future__ import annotations

import json
import logging
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.renderers import JSONRenderer
from ninja.security import HttpBearer

from deck.api.envelope import deck_error_response, error_response, field_path, generic_error
from deck.errors import DeckError
from deck.models import Organization

logger = logging.getLogger("deck.api")


class ApiKeyAuth(HttpBearer):
    """Documents the Bearer scheme; the key itself was checked by ``ApiMiddleware``."""

    def authenticate(self, request: HttpRequest, token: str) -> Organization | None:
        return getattr(request, "organization", None)


class DeckRenderer(JSONRenderer):
    """Adds the request id to every JSON object the API returns."""

    def render(self, request: HttpRequest, data: Any, *, response_status: int) -> Any:
        if isinstance(data, dict):
            data = {**data, "request_id": getattr(request, "request_id", None)}
        return json.dumps(data, cls=self.encoder_class)


ERROR_ENVELOPE_SCHEMA = {
    "type": "object",
    "required": ["errors", "request_id"],
    "properties": {
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["type", "code", "message"],
                "properties": {
                    "type": {
                        "type": "string",
                        "enum": [
                            "api",
                            "auth",
                            "request",
                            "idempotency",
                            "rate_limit",
                            "session",
                            "source",
                            "interaction",
                            "task",
                            "storage",
                        ],
                    },
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "field": {"type": "string", "description": "JSON path of the bad input."},
                },
            },
        },
        "request_id": {"type": "string"},
    },
}


class DeckApi(NinjaAPI):
    def get_openapi_schema(self, **kwargs: Any) -> Any:
        """Ninja documents successes; every operation can also fail with the envelope."""
        schema = super().get_openapi_schema(**kwargs)
        schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = (
            ERROR_ENVELOPE_SCHEMA
        )
        reference = {
            "description": "Error envelope",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                operation.setdefault("responses", {}).update({"4XX": reference, "5XX": reference})
        return schema


api = DeckApi(
    title="Deck API",
    version="2",
    description=(
        "Agents that log into websites on behalf of end users and run reusable tasks. "
        "Authenticate with `Authorization: Bearer sk_live_…`."
    ),
    urls_namespace="api",
    renderer=DeckRenderer(),
    auth=ApiKeyAuth(),
    openapi_url="/openapi.json",
    docs_url="/docs",
)


@api.exception_handler(DeckError)
def _deck_error(request: HttpRequest, exc: DeckError) -> HttpResponse:
    return deck_error_response(request, exc)


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = []
    for item in exc.errors:
        field = field_path(item.get("loc", ()))
        message = item.get("msg", "Invalid value.")
        errors.append(
            {
                "type": "request",
                "code": "input_invalid",
                "message": f"{field}: {message}" if field else message,
                **({"field": field} if field else {}),
            }
        )
    return error_response(request, errors, status=400)


@api.exception_handler(AuthenticationError)
def _auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return error_response(request, [generic_error(401)], status=401)


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return error_response(
        request, [generic_error(exc.status_code, str(exc))], status=exc.status_code
    )


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error_response(request, [generic_error(404)], status=404)


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("Unhandled error in %s %s", request.method, request.path)
    return error_response(request, [generic_error(500)], status=500)


def _register_routers() -> None:
    from deck.api import (
        agents,
        credentials,
        entities,
        events,
        meta,
        runs,
        sources,
        storage,
        tasks,
        workflows,
    )

    api.add_router("", meta.router)
    api.add_router("/agents", agents.router)
    api.add_router("/sources", sources.router)
    api.add_router("/credentials", credentials.router)
    api.add_router("/tasks", tasks.router)
    api.add_router("/task-runs", runs.router)
    api.add_router("/task-runs", storage.run_storage_router)
    api.add_router("/storage", storage.router)
    api.add_router("/sessions", runs.sessions_router)
    api.add_router("/workflows", workflows.router)
    api.add_router("/workflow-runs", workflows.runs_router)
    api.add_router("/entities", entities.router)
    api.add_router("/events", events.router)
    api.add_router("/event-destinations", events.destinations_router)


_register_routers()
