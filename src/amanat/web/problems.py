"""Error responses: RFC 9457 problem+json for the API, a plain HTML page for people.

Every error a client sees goes through here, so none carries a traceback, an input value or
personal data; a 500 carries only the request id as a reference.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import Scope

from amanat.core.errors import AmanatError
from amanat.web.error_pages import error_page

PROBLEM_JSON = "application/problem+json"

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}

_STATUS_MESSAGES = {
    404: "There is nothing at this address.",
    405: "This address does not accept that method.",
    413: "The request body is larger than this service accepts.",
    500: "Something went wrong on our side. Quote the reference if you contact support.",
}


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_JSON


def wants_json(scope: Scope) -> bool:
    path: str = scope.get("path", "")
    if path.startswith("/api/") or path in ("/healthz", "/readyz", "/metrics"):
        return True
    for name, value in scope.get("headers", []):
        if name == b"accept":
            accept = value.decode("latin-1")
            return "json" in accept and "text/html" not in accept
    return False


def problem(
    scope: Scope,
    *,
    status: int,
    code: str,
    detail: str,
    title: str | None = None,
    extra: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    request_id = scope.get("state", {}).get("request_id", "")
    title = title or HTTPStatus(status).phrase
    if wants_json(scope):
        body: dict[str, Any] = {
            "type": f"urn:amanat:problem:{code}",
            "title": title,
            "status": status,
            "code": code,
            "detail": detail,
            "request_id": request_id,
        }
        if extra:
            body.update(extra)
        return ProblemResponse(body, status_code=status, headers=headers)
    # Rendered as it is sent, with the signed-in navigation when the browser is signed in.
    return error_page(
        scope,
        {
            "status": status,
            "title": title,
            "detail": detail,
            "request_id": request_id,
            "code": code,
        },
        status_code=status,
        headers=headers,
    )


def internal_error_response(scope: Scope, request_id: str) -> Response:
    return problem(scope, status=500, code="internal_error", detail=_STATUS_MESSAGES[500])


# For people in a browser, some refusals are a next step rather than an error page.
_PAGE_REDIRECTS = {
    "unauthenticated": "/signin",
    "second_factor_required": "/signin/second-factor",
    "mfa_enrolment_required": "/account/mfa",
    "password_change_required": "/account/password",
}


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AmanatError)
    target = _PAGE_REDIRECTS.get(exc.code)
    if target is not None and not wants_json(request.scope) and request.url.path != target:
        if exc.code == "unauthenticated" and request.method in ("GET", "HEAD"):
            # Back to the page asked for after sign-in (same-site paths only: identity.return_to).
            from amanat.identity.return_to import signin_page_for

            target = signin_page_for(request.url.path, request.url.query)
        return RedirectResponse(target, status_code=303)
    return problem(
        request.scope,
        status=exc.status,
        code=exc.code,
        detail=exc.message,
        title=exc.title,
        extra=exc.extra or None,
        headers=exc.headers or None,  # a 429's Retry-After
    )


def allowed_methods(request: Request) -> set[str]:
    """Every method some route of the app takes at this request's path.

    The router raises a 405 from the first route whose path matched, which names only its own
    methods; a path served by several routes (GET and POST apart) takes the union.
    """
    root_path: str = request.scope.get("root_path", "")
    path: str = request.scope["path"]
    if root_path and path.startswith(root_path):
        path = path[len(root_path) :] or "/"
    allowed: set[str] = set()
    for context in iter_route_contexts(request.app.routes):
        regex = getattr(context, "path_regex", None)
        methods = context.methods
        if regex is None or not methods or not regex.match(path):
            continue
        allowed |= {method.upper() for method in methods}
    if "GET" in allowed:
        allowed.add("HEAD")  # the front door answers HEAD wherever GET is served
    return allowed


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _STATUS_CODES.get(exc.status_code, "http_error")
    detail = _STATUS_MESSAGES.get(exc.status_code)
    if detail is None:
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        # A mounted app (static files) names its own methods; no route of ours matches there.
        allowed = allowed_methods(request) or {
            method.strip().upper() for method in headers.get("Allow", "").split(",") if method
        }
        headers["Allow"] = ", ".join(sorted(allowed))
    return problem(
        request.scope, status=exc.status_code, code=code, detail=detail, headers=headers or None
    )


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(error.get("type") == "json_invalid" for error in errors):
        return problem(
            request.scope,
            status=400,
            code="malformed_json",
            detail="The request body is not valid JSON.",
        )
    # Field locations and messages only: the rejected input values are never echoed back.
    fields = [
        {
            "field": ".".join(str(part) for part in error.get("loc", ())),
            "code": error.get("type", "invalid"),
            "message": error.get("msg", "invalid value"),
        }
        for error in errors
    ]
    return problem(
        request.scope,
        status=422,
        code="invalid_input",
        detail="Some fields are missing or invalid.",
        extra={"errors": fields},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AmanatError, _domain_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)


def with_refusal_headers(response: Response, exc: AmanatError) -> Response:
    """A page that shows a refusal beside its form carries the refusal's headers too (a 429's
    `Retry-After`), as the error handler's answer would."""
    response.headers.update(exc.headers)
    return response


def refusal_for_form(exc: AmanatError) -> AmanatError:
    """A refusal a form shows beside itself; a server fault goes on to the error handler."""
    if exc.status >= 500:
        raise exc
    return exc
