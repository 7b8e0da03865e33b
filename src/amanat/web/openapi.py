"""The OpenAPI document says what the API really answers, so a generated client or a fuzzer can
trust it: every error an operation may give (problem+json, never `application/json`), and how
each operation is authenticated (a session cookie with its CSRF token, or a bearer API token).

FastAPI describes only the success answer and a 422 of its own shape; this fills in the rest
from what the routes declare (`web.auth` dependencies, `require_scope`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from amanat.web import auth
from amanat.web.problems import PROBLEM_JSON

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details; `code` is stable, `detail` is for people.",
    "required": ["type", "title", "status", "code", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "code": {"type": "string"},
        "detail": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "For 422: each field refused, without the value sent.",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string"},
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
        "retry_after": {"type": "integer", "description": "For 429: seconds to wait."},
    },
    "additionalProperties": True,
}

# What any operation may answer besides its success: malformed request, body too large or of
# the wrong type, invalid fields, too many requests, and our own fault.
_ALWAYS = {
    "400": "The request could not be read (malformed JSON or HTTP).",
    "413": "The request body is larger than this service accepts.",
    "415": "The request body is not of a type this operation takes.",
    "422": "Some fields are missing or invalid.",
    "429": "Too many requests; `Retry-After` says when to try again.",
    "500": "Our fault; quote `request_id` to support.",
}
_SIGNED_IN = {
    "401": "Not signed in, or the API token is not valid.",
    "403": "Signed in, but not allowed to do this (or the CSRF token is missing).",
    "404": "Nothing of that id within the caller's reach.",
    "409": "The change conflicts with the current state.",
}
_ANONYMOUS = {
    "403": "The request was refused (for example, the form's CSRF token is missing).",
    "404": "Nothing at this address (or the feature is switched off).",
    "409": "The change conflicts with the current state.",
}
# Anonymous operations that check a credential of their own and refuse a wrong one with a 401
# (the fuzzer found sign-in's undeclared).
_CHECKS_CREDENTIALS = {
    ("/api/v1/session", "post"): "The login or password is not right (`signin_failed`).",
}
# Operations that shed load past capacity: 503 `overloaded` at once instead of a long queue.
_SHEDS = {
    ("/api/v1/session", "post"): "Too busy right now (`overloaded`); `Retry-After` says when "
    "to try again.",
}
_SESSION_DEPENDENCIES = frozenset(
    {auth.any_session, auth.enrolling_user, auth.signed_in, auth.optional_authentication}
)

SECURITY_SCHEMES = {
    "sessionCookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": auth.SESSION_COOKIE,
        "description": "A browser session, set by signing in.",
    },
    "csrfToken": {
        "type": "apiKey",
        "in": "header",
        "name": auth.CSRF_HEADER,
        "description": "With the session cookie, on every POST, PUT, PATCH and DELETE.",
    },
    "bearerToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token (`amn_…`), on operations that name the scope it needs.",
    },
}


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _access(route: APIRoute) -> tuple[bool, bool]:
    """(needs a signed-in caller, takes an API token) for one route."""
    calls = set(_calls(route.dependant))
    signed_in = any(call in _SESSION_DEPENDENCIES for call in calls) and not (
        calls & {auth.optional_session}
    )
    takes_tokens = any(
        getattr(call, "__qualname__", "").startswith("require_scope") for call in calls
    )
    return signed_in, takes_tokens


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def describe(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document with every error answer and security requirement declared."""
    document = get_openapi(
        title=app.title, version=app.version, routes=app.routes, description=app.description
    )
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    components["securitySchemes"] = SECURITY_SCHEMES
    routes = {
        (context.path_format, method.lower()): context.original_route
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
        for method in context.methods or ()
    }
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            route = routes.get((path, method))
            if not isinstance(route, APIRoute):
                continue
            signed_in, takes_tokens = _access(route)
            responses = operation.setdefault("responses", {})
            refusal = _CHECKS_CREDENTIALS.get((path, method))
            for status, description in {
                **_ALWAYS,
                **(_SIGNED_IN if signed_in else _ANONYMOUS),
                **({"401": refusal} if refusal else {}),
                **({"503": _SHEDS[(path, method)]} if (path, method) in _SHEDS else {}),
            }.items():
                responses[status] = _problem(description)
            if signed_in:
                # The CSRF token goes along only with a change (GET and HEAD change nothing).
                cookie: dict[str, list[str]] = {"sessionCookie": []}
                if method not in ("get", "head"):
                    cookie["csrfToken"] = []
                operation["security"] = [cookie]
                if takes_tokens:
                    operation["security"].append({"bearerToken": []})
            else:
                operation["security"] = [{}]
    return document


def install_openapi(app: FastAPI) -> None:
    """Serve `describe(app)` (built once) as the app's OpenAPI document."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = describe(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
