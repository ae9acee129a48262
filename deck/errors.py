"""Domain errors carrying the API error ``type`` / ``code``.

Each app raises its own subclasses (``tasks/errors.py``…); the API layer turns any
``DeckError`` into the error envelope, the console into a message.
"""

from __future__ import annotations


class DeckError(Exception):
    status = 400
    type = "api"
    code = "api_error"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def as_dict(self) -> dict[str, str]:
        error = {"type": self.type, "code": self.code, "message": self.message}
        if self.field:
            error["field"] = self.field
        return error

    def as_dicts(self) -> list[dict[str, str]]:
        return [self.as_dict()]


class InvalidInput(DeckError):
    status = 400
    type = "request"
    code = "input_invalid"


class InvalidInputs(InvalidInput):
    """Several violations at once (a run input failing its schema in more than one place)."""

    def __init__(self, errors: list[InvalidInput]) -> None:
        super().__init__(errors[0].message, field=errors[0].field)
        self.errors = errors

    def as_dicts(self) -> list[dict[str, str]]:
        return [error.as_dict() for error in self.errors]


class NotFound(DeckError):
    """An unknown id, or another organization's: both are 404, never 403."""

    status = 404
    type = "request"

    def __init__(self, object_name: str, object_id: str = "", *, field: str | None = None):
        label = object_name.replace("_", " ")
        message = f"No {label} with id {object_id!r}." if object_id else f"No such {label}."
        super().__init__(message, field=field, code=f"{object_name}_not_found")


class StateConflict(DeckError):
    status = 409
    type = "request"
    code = "state_conflict"


class RequestTooLarge(DeckError):
    status = 413
    type = "request"
    code = "request_too_large"


class AuthFailed(DeckError):
    status = 401
    type = "auth"
    code = "api_key_invalid"


class IdempotencyError(DeckError):
    type = "idempotency"


class RateLimited(DeckError):
    status = 429
    type = "rate_limit"
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
