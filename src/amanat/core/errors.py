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

    @property
    def headers(self) -> dict[str, str]:
        """HTTP headers the answer carries (a 429's `Retry-After`)."""
        return {}


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
    """A refusal for now: `retry_after` seconds later the caller may try again.

    The answer carries `Retry-After` (header) and `retry_after` (body), and the message ends
    with how long to wait ("Try again in 2 minutes.").
    """

    code = "too_many_requests"
    status = 429
    title = "Too many requests"

    def __init__(
        self,
        message: str,
        *,
        retry_after: int,
        code: str | None = None,
        keep_changes: bool = False,
        **extra: Any,
    ) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(
            f"{message} Try again in {wait_in_words(self.retry_after)}.",
            code=code,
            keep_changes=keep_changes,
            retry_after=self.retry_after,
            **extra,
        )

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


def wait_in_words(seconds: int) -> str:
    """A wait for people, rounded up: "1 second", "45 seconds", "2 minutes", "1 hour"."""
    minutes = -(-seconds // 60)
    if seconds < 60:
        amount, unit = seconds, "second"
    elif minutes < 60:
        amount, unit = minutes, "minute"
    else:
        amount, unit = -(-seconds // 3600), "hour"
    return f"{amount} {unit}" if amount == 1 else f"{amount} {unit}s"


class ServiceUnavailable(AmanatError):
    code = "unavailable"
    status = 503
    title = "Service unavailable"


class Overloaded(ServiceUnavailable):
    """Past capacity: refused at once rather than queued for seconds; with `Retry-After`."""

    code = "overloaded"

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(
            f"{message} Try again in {wait_in_words(self.retry_after)}.",
            retry_after=self.retry_after,
        )

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class ConfigurationError(Exception):
    """A setting, key or file the operator must fix; shown as one line, exit status 2."""

    def __init__(self, message: str, *, code: str = "configuration") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
