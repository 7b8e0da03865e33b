"""The one ASGI middleware every HTTP request passes: request id, client address, body limit,
security headers, metrics, an access log line, and a last-resort 500 that never leaks a traceback.

Written as plain ASGI (not BaseHTTPMiddleware) because it sits on every request's hot path.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.contextvars import bind_contextvars, reset_contextvars

from amanat.core.db import ReadConflict
from amanat.core.ids import new_request_id
from amanat.core.logging import get_logger
from amanat.web.deps import AS_WRITER
from amanat.web.metrics import Metrics
from amanat.web.problems import internal_error_response
from amanat.web.proxy import TrustedProxies

log = get_logger("amanat.http")

HSTS = b"max-age=63072000; includeSubDomains"


def content_security_policy(nonce: str) -> bytes:
    return (
        "default-src 'self'; "
        f"script-src 'self' 'nonce-{nonce}'; "
        f"style-src 'self' 'nonce-{nonce}'; "
        "img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ).encode()


STATIC_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"strict-transport-security", HSTS),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
)


class FrontDoor:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        trusted_proxies: TrustedProxies,
        metrics: Metrics,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.trusted_proxies = trusted_proxies
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        method = scope["method"]
        # HEAD is GET without the body (RFC 9110 §9.3.2): every GET route answers it, with the
        # headers, Content-Length included, that GET would send.
        head = method == "HEAD"
        if head:
            # A copy: the server keeps reading its own scope's method, and for a HEAD it expects
            # no body whatever Content-Length says.
            scope = {**scope, "method": "GET"}
        request_id = new_request_id()
        nonce = secrets.token_urlsafe(16)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["csp_nonce"] = nonce
        state["client_address"] = self._client_address(scope)
        tokens = bind_contextvars(request_id=request_id)
        status = 500
        response_started = False

        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            receive = _refusing_receive
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise HTTPException(413)
            return message

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = _merge_headers(message.get("headers", []), request_id, nonce)
                message = {**message, "headers": headers}
            elif head and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        try:
            try:
                await self.app(scope, limited_receive, send_with_headers)
            except ReadConflict:
                if response_started:
                    raise
                # A reader had to write after someone else did: once more, as a writer. Only a
                # GET begins as a reader, and it has no body to read again.
                state[AS_WRITER] = True
                log.debug("read_conflict_retried", path=scope.get("path", ""))
                await self.app(scope, _empty_body, send_with_headers)
        except Exception:
            log.exception("unhandled_error", path=scope.get("path", ""))
            if not response_started:
                await internal_error_response(scope, request_id)(
                    scope, limited_receive, send_with_headers
                )
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            self.metrics.observe(method, route, status, elapsed)
            log.info(
                "request",
                method=method,
                route=route,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )
            reset_contextvars(**tokens)

    def _client_address(self, scope: Scope) -> Any:
        peer = scope.get("client")
        peer_host = peer[0] if peer else None
        forwarded = [
            value.decode("latin-1")
            for name, value in scope.get("headers", [])
            if name == b"x-forwarded-for"
        ]
        return self.trusted_proxies.client_address(peer_host, forwarded)


async def _empty_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _refusing_receive() -> Message:
    raise HTTPException(413)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _merge_headers(headers: Any, request_id: str, nonce: str) -> list[tuple[bytes, bytes]]:
    merged = [(bytes(name).lower(), bytes(value)) for name, value in headers]
    present = {name for name, _ in merged}
    merged.extend(pair for pair in STATIC_HEADERS if pair[0] not in present)
    if b"content-security-policy" not in present:
        merged.append((b"content-security-policy", content_security_policy(nonce)))
    if b"cache-control" not in present:
        # Responses carry account data; nothing may be kept by browsers or shared caches (V14.3).
        merged.append((b"cache-control", b"no-store"))
    merged.append((b"x-request-id", request_id.encode()))
    return merged


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"
