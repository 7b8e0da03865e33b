"""Domain errors: each carries a stable machine code, an HTTP status and a human message.

One handler in `amanat.web.errors` turns them into RFC 9457 problem+json (API) or an HTML page.
Messages are written for people and must never contain personal data or secrets.
"""

from __future__ import annotations

from typing import Any


class AmanatError(Exception):
    """Base of every error a user may see; subclasses fix `code` and `status`."""

    code: str = "error"
    status: int = 400
    title: str = "Request failed"

    def __init__(
        self, message: str, *, code: str | None = None, keep_changes: bool = False, **extra: Any
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        # A refusal that must still be remembered (a failed sign-in counts toward a lock):
        # the request's transaction is committed, not rolled back.
        self.keep_changes = keep_changes
        self.extra = extra


class InvalidInput(AmanatError):
    code = "invalid_input"
    status = 422
    title = "Invalid input"


class NotFound(AmanatError):
    code = "not_found"
    status = 404
    title = "Not found"


class Unauthenticated(AmanatError):
    code = "unauthenticated"
    status = 401
    title = "Sign-in required"


class Forbidden(AmanatError):
    code = "forbidden"
    status = 403
    title = "Not allowed"


class Conflict(AmanatError):
    code = "conflict"
    status = 409
    title = "Conflict"


class TooManyRequests(AmanatError):
    code = "too_many_requests"
    status = 429
    title = "Too many requests"


class ServiceUnavailable(AmanatError):
    code = "unavailable"
    status = 503
    title = "Service unavailable"


class ConfigurationError(Exception):
    """A setting, key or file the operator must fix; shown as one line, exit status 2."""

    def __init__(self, message: str, *, code: str = "configuration") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
