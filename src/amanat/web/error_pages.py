"""Pages shown to a person who may be signed in, where no route dependency resolved them: the
HTML error pages and the start page. They carry the signed-in navigation too.

Looking the person up here changes nothing: the lookup's database session is rolled back, so the
session is not extended and no device use is recorded (the request's own handling, if any, did
that once already). A lookup that fails for any reason leaves the page without navigation.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from amanat.access.actors import Actor
from amanat.identity.mfa_enrolment import mfa_required
from amanat.identity.sessions import resolve_session
from amanat.web.auth import SESSION_COOKIE, Authenticated
from amanat.web.state import AppState
from amanat.web.templating import environment

logger = logging.getLogger(__name__)

MAX_SESSION_TOKEN = 128


async def signed_in_viewer(scope: Scope) -> Authenticated | None:
    """The fully signed-in person whose browser sent this request, or None; without side effects."""
    token = HTTPConnection(scope).cookies.get(SESSION_COOKIE)
    if not token or len(token) > MAX_SESSION_TOKEN:
        return None
    try:
        state: AppState = scope["app"].state.amanat
        database = state.require_database()
        async with database.sessionmaker() as session:
            try:
                found = await resolve_session(session, state.settings, token)
                if found is None or found[0].stage != "active":
                    return None
                row, user = found
                needs_enrolment = user.mfa_enabled_at is None and await mfa_required(session, user)
                # Detached, the loaded rows outlive the rollback that drops every change.
                session.expunge_all()
            finally:
                await session.rollback()
    except Exception:  # the page still renders, only without navigation
        logger.warning("page_viewer_lookup_failed", exc_info=True)
        return None
    actor = Actor(
        user_id=user.id,
        account_id=user.account_id,
        role=user.role,
        session_id=row.id,
        via="session",
    )
    return Authenticated(actor, user, row, token, needs_enrolment)


class ErrorPage(Response):
    """`error.html`, rendered when it is sent: the exception handlers that build it are plain
    functions, and finding the signed-in person needs the database."""

    media_type = "text/html"

    def __init__(
        self,
        context: Mapping[str, Any],
        *,
        status_code: int,
        nonce: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(b"", status_code=status_code, headers=headers)
        self.context = dict(context)
        self.nonce = nonce

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A server fault may be the database itself: that page is drawn without a lookup.
        viewer = await signed_in_viewer(scope) if self.status_code < 500 else None
        html = environment.get_template("error.html").render(
            {**self.context, "auth": viewer, "csp_nonce": self.nonce}
        )
        self.body = html.encode(self.charset)
        self.headers["content-length"] = str(len(self.body))
        await super().__call__(scope, receive, send)


def error_page(
    scope: Scope,
    context: Mapping[str, Any],
    *,
    status_code: int,
    headers: Mapping[str, str] | None = None,
) -> Response:
    nonce = str(scope.get("state", {}).get("csp_nonce", ""))
    return ErrorPage(context, status_code=status_code, nonce=nonce, headers=headers)
