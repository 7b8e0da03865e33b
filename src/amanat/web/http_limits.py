"""The HTTP/1.1 connection protocol `amanat serve` runs: uvicorn's httptools protocol with a
bound on how large a request's head (request line and headers) may be and how long it may take
to arrive (issue: a 32 MB User-Agent was read whole; a client trickling one header every few
seconds held a connection open for minutes).

- A head larger than `max_header_bytes` is answered 431 and the connection closed: the parser
  never buffers more than that (plus one read) for a request.
- A head not complete within `header_timeout_seconds` of its first byte, or of the connection
  opening, closes the connection (408).
- What the parser refuses (control characters in a header, a malformed request line) is
  answered with problem+json, like every other error, instead of uvicorn's plain text.
"""

from __future__ import annotations

import asyncio
import json
from functools import cache
from http import HTTPStatus
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from amanat.core.settings import load_settings
from amanat.web.frontdoor import HSTS


@cache
def _limits() -> tuple[int, float]:
    # Worker processes get their settings from the environment, as the app factory does.
    settings = load_settings()
    return settings.max_header_bytes, settings.header_timeout_seconds


def problem_bytes(status: int, code: str, detail: str) -> bytes:
    """A complete HTTP/1.1 answer with a problem+json body that closes the connection."""
    body = json.dumps(
        {
            "type": f"urn:amanat:problem:{code}",
            "title": HTTPStatus(status).phrase,
            "status": status,
            "code": code,
            "detail": detail,
        },
    ).encode()
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        "content-type: application/problem+json; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\n"
        "cache-control: no-store\r\n"
        "x-content-type-options: nosniff\r\n"
        f"strict-transport-security: {HSTS.decode()}\r\n"
        "connection: close\r\n\r\n"
    ).encode("ascii")
    return head + body


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with the head of every request bounded in size and time."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._max_head, self._head_timeout = _limits()
        self._head_bytes = 0
        self._reading_head = True
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()  # a client that connects and says nothing is timed too

    def data_received(self, data: bytes) -> None:
        if self._reading_head:
            self._head_bytes += len(data)
        super().data_received(data)
        # Still in the head after this read and past the bound: refuse before it grows further.
        if self._reading_head and self._head_bytes > self._max_head:
            self._refuse(431, "headers_too_large", "The request's headers are too large.")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_head = True
        if self._head_timer is None:
            self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._head_bytes = 0
        self._cancel_head_timer()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # The next request's head counts from zero; the keep-alive timer covers the idle wait.
        self._reading_head = True

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, "malformed_request", "The request could not be read as HTTP.")

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self._head_timeout, self._head_too_slow)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self._reading_head:
            self._refuse(408, "request_timeout", "The request's headers took too long to arrive.")

    def _refuse(self, status: int, code: str, detail: str) -> None:
        self._cancel_head_timer()
        if self.transport.is_closing():
            return
        self.transport.write(problem_bytes(status, code, detail))
        self.transport.close()
