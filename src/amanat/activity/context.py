"""The request context the activity domain collects: client address, parsed user agent and
the device cookie. This module is the adapter between HTTP and the activity services: routes
declare `context: RequestCtx` and hand the context to services, which never read the request.

The client address is the one the front door settled on (`web/proxy.py`): the socket peer, or
what a configured trusted proxy reports in `X-Forwarded-For`; a header from anyone else is
ignored. With `activity_capture` off, nothing is collected: the context is empty.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.responses import Response

from amanat.activity.addresses import network_of, normalized_address
from amanat.activity.agents import UNKNOWN_AGENT, ParsedAgent, parse_agent

DEVICE_COOKIE = "__Host-amanat_device"
DEVICE_COOKIE_DAYS = 400  # the longest lifetime browsers allow a cookie (RFC 6265bis)
DEVICE_TOKEN_BYTES = 32
_DEVICE_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
_STATE_KEY = "activity_context"


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Where a request came from, as far as the activity domain records it."""

    ip: str | None
    agent: ParsedAgent
    # The device cookie's value; minted fresh when the browser sent none (set only on sign-in).
    device_token: str | None
    # False when the operator switched collection off: then nothing of the request is kept.
    captured: bool = True
    # The address shortened to its /24 or /48: the only form shown to anyone. Worked out once
    # (a sign-in reads it several times, and parsing an address is not free).
    network: str | None = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "network", network_of(self.ip))


EMPTY_CONTEXT = RequestContext(ip=None, agent=UNKNOWN_AGENT, device_token=None, captured=False)


def capture_enabled(request: Request) -> bool:
    # Read through the app state rather than `amanat.web` (activity does not import the web layer).
    state: Any = getattr(request.app.state, "amanat", None)
    return bool(getattr(getattr(state, "settings", None), "activity_capture", True))


def request_context(request: Request) -> RequestContext:
    """The request's context, built once per request (also as the `RequestCtx` dependency)."""
    state = request.scope.setdefault("state", {})
    cached = state.get(_STATE_KEY)
    if isinstance(cached, RequestContext):
        return cached
    if not capture_enabled(request):
        context = EMPTY_CONTEXT
    else:
        # The front door's answer when it ran; the socket peer for an app without it (tests).
        peer = request.client.host if request.client is not None else None
        address = state.get("client_address", peer)
        cookie = request.cookies.get(DEVICE_COOKIE, "")
        context = RequestContext(
            ip=normalized_address(str(address)) if address is not None else None,
            agent=parse_agent(request.headers.get("user-agent")),
            device_token=cookie
            if _DEVICE_TOKEN.fullmatch(cookie)
            else secrets.token_urlsafe(DEVICE_TOKEN_BYTES),
        )
    state[_STATE_KEY] = context
    return context


def set_device_cookie(response: Response, context: RequestContext) -> None:
    """(Re)set the long-lived device cookie after a sign-in step that succeeded."""
    if context.device_token is None:
        return
    response.set_cookie(
        DEVICE_COOKIE,
        context.device_token,
        max_age=DEVICE_COOKIE_DAYS * 24 * 3600,
        path="/",
        secure=True,
        httponly=True,
        samesite="lax",
    )


def drop_device_cookie(response: Response) -> None:
    """This browser's device was forgotten: its cookie goes too, so nothing recognises it."""
    response.delete_cookie(DEVICE_COOKIE, path="/", secure=True, httponly=True, samesite="lax")


async def _request_context_dependency(request: Request) -> RequestContext:
    # Async on purpose: FastAPI runs a plain `def` dependency in a worker thread, a thread hop
    # on every request for what is a few dictionary look-ups.
    return request_context(request)


RequestCtx = Annotated[RequestContext, Depends(_request_context_dependency)]
