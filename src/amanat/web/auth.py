"""HTTP authentication: the session cookie, CSRF, bearer API tokens, and the typed actor
dependencies routes declare (`actor: SignedIn`, `actor: AccountAdmin` …). Authorization itself
stays in the services.

A program may send `Authorization: Bearer amn_…` instead of a cookie. Such a request is refused
(403 `token_not_allowed`) everywhere except on routes that declare `require_scope(...)`, and it
never reaches an HTML page or a credential, session or token endpoint.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from amanat.access.actors import Actor
from amanat.access.roles import Permission
from amanat.activity.context import request_context
from amanat.activity.service import note_session_use
from amanat.core.crypto import MasterKeyring
from amanat.core.errors import Forbidden, Unauthenticated
from amanat.core.settings import Settings
from amanat.identity.api_tokens import ApiScope, effective_scopes, resolve_api_token
from amanat.identity.mfa_enrolment import mfa_required
from amanat.identity.models import ApiToken, User, UserSession
from amanat.identity.sessions import resolve_session
from amanat.web.deps import DbSession, app_state
from amanat.web.templating import render

SESSION_COOKIE = "__Host-amanat_session"
ANONYMOUS_CSRF_COOKIE = "__Host-amanat_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
BEARER_MAX_LENGTH = 128


def _token_not_allowed() -> Forbidden:
    return Forbidden(
        "API tokens cannot be used here. Sign in to do this.", code="token_not_allowed"
    )


@dataclass
class Authenticated:
    """Who is calling, and how: a browser session (cookie) or a program (bearer API token)."""

    actor: Actor
    user: User
    session_row: UserSession | None
    token: str  # the session cookie's token; "" for a bearer request
    needs_mfa_enrolment: bool
    # None for a session, which passes every scope check; for an API token, its scopes that the
    # owner's current role still allows.
    scopes: frozenset[str] | None = None
    api_token: ApiToken | None = None
    # The scopes this request's route required and the token holds (see `require_scope`).
    granted_scopes: set[str] = field(default_factory=set)

    @property
    def via_token(self) -> bool:
        return self.api_token is not None

    @property
    def session(self) -> UserSession:
        """The browser session. A bearer request has none: whatever needs one is refused."""
        if self.session_row is None:
            raise _token_not_allowed()
        return self.session_row

    @property
    def csrf_token(self) -> str:
        # A bearer request carries no cookie: there is no cross-site forgery to guard against.
        return csrf_token_for(self.token) if self.session_row is not None else ""


def csrf_token_for(session_token: str) -> str:
    """Derived from the session token, so nothing extra is stored and it dies with the session."""
    return hmac.digest(session_token.encode(), b"amanat csrf v1", "sha256").hex()


def set_session_cookie(response: Response, settings: Settings, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_absolute_hours * 3600,
        path="/",
        secure=True,
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response) -> None:
    """Sign-out: the session cookie expires, and the browser drops what it cached or stored.

    ASVS V14.3.1 asks that authenticated data leave the browser at sign-out. `"cookies"` is
    left out of `Clear-Site-Data` on purpose: it would drop every cookie of the site, the device
    cookie (`__Host-amanat_device`) too, so the next sign-in from this very browser would be
    "a new device" and mail the person. The session cookie, the only authenticated cookie, is
    expired by name instead. The device cookie carries no authority (it only recognises the
    browser at a sign-in); "this was not me" makes it worthless by forgetting the devices.
    """
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="lax")
    response.headers["Clear-Site-Data"] = '"cache", "storage"'


async def keyring_of(request: Request) -> MasterKeyring:  # async: no worker thread (web/deps)
    return app_state(request).require_keyring()


async def _supplied_csrf(request: Request) -> str:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


async def verify_csrf(request: Request, session_token: str) -> None:
    """An unsafe request with a session cookie must carry that session's CSRF token."""
    if request.method in SAFE_METHODS:
        return
    supplied = await _supplied_csrf(request)
    if not supplied or not hmac.compare_digest(supplied, csrf_token_for(session_token)):
        raise Forbidden(
            "The form expired or did not come from this site. Reload and retry.", code="csrf_failed"
        )


async def optional_authentication(request: Request, session: DbSession) -> Authenticated | None:
    """The caller by session cookie; without one, by `Authorization: Bearer amn_…`."""
    token = request.cookies.get(SESSION_COOKIE)
    if token is None:
        # Only when no session cookie came along: with one, the CSRF check below must run.
        bearer = _bearer_token(request)
        return None if bearer is None else await _token_authentication(session, bearer)
    if not token or len(token) > 128:
        return None
    settings = app_state(request).settings
    found = await resolve_session(session, settings, token)
    if found is None:
        return None
    row, user = found
    await verify_csrf(request, token)
    if settings.activity_capture and inspect(row).attrs.last_seen_at.history.has_changes():
        # The session was just marked as seen (at most once a minute): so is its device.
        await note_session_use(
            session, session_id=row.id, context=request_context(request), now=row.last_seen_at
        )
    needs_enrolment = user.mfa_enabled_at is None and await mfa_required(session, user)
    actor = Actor(
        user_id=user.id,
        account_id=user.account_id,
        role=user.role,
        session_id=row.id,
        via="session",
    )
    return Authenticated(actor, user, row, token, needs_enrolment)


def _bearer_token(request: Request) -> str | None:
    headers = request.headers.getlist("authorization")
    if not headers:
        return None
    scheme, _, value = headers[0].partition(" ")
    if scheme.lower() != "bearer":
        return None  # some other scheme: not ours, the request is simply anonymous
    if len(headers) > 1:
        raise Unauthenticated("Send one Authorization header.", code="invalid_token")
    return value.strip()


async def _token_authentication(session: AsyncSession, bearer: str) -> Authenticated:
    found = None if len(bearer) > BEARER_MAX_LENGTH else await resolve_api_token(session, bearer)
    if found is None:
        raise Unauthenticated(
            "The API token is not valid: it may be mistyped, expired or revoked.",
            code="invalid_token",
        )
    row, user = found
    needs_enrolment = user.mfa_enabled_at is None and await mfa_required(session, user)
    actor = Actor(
        user_id=user.id, account_id=user.account_id, role=user.role, session_id=None, via="token"
    )
    scopes = frozenset(scope.value for scope in effective_scopes(row, user.role))
    return Authenticated(actor, user, None, "", needs_enrolment, scopes=scopes, api_token=row)


async def optional_session(
    auth: Annotated[Authenticated | None, Depends(optional_authentication)],
) -> Authenticated | None:
    """The signed-in browser, if any: a page never treats an API token as a person."""
    return None if auth is None or auth.via_token else auth


def require_scope(scope: ApiScope) -> Any:
    """A route dependency that admits API tokens holding `scope`; a session passes it.

    Declare it in the route decorator's `dependencies=[...]`: FastAPI resolves those before the
    parameters, so the token is admitted before the actor dependency looks. Declared anywhere
    later, it comes too late and tokens are refused (the safe way to be wrong).
    """

    async def dependency(
        auth: Annotated[Authenticated | None, Depends(optional_authentication)],
    ) -> None:
        if auth is None or auth.scopes is None:
            return
        if scope.value not in auth.scopes:
            raise Forbidden(
                f"This API token does not have the scope {scope.value}, or your role no longer "
                "allows it.",
                code="insufficient_scope",
            )
        auth.granted_scopes.add(scope.value)

    return Depends(dependency)


def _require_factors(auth: Authenticated) -> None:
    if auth.needs_mfa_enrolment:
        raise Forbidden("Set up a second factor to continue.", code="mfa_enrolment_required")
    if auth.user.must_change_password:
        raise Forbidden("Choose a new password to continue.", code="password_change_required")


async def any_session(
    auth: Annotated[Authenticated | None, Depends(optional_authentication)],
) -> Authenticated:
    """Any live session, even one that still owes a second factor (for that step only); or an
    API token on a route whose `require_scope` it passed."""
    if auth is None:
        # keep_changes: an expired session found on the way is deleted for good.
        raise Unauthenticated("Please sign in.", code="unauthenticated", keep_changes=True)
    if auth.via_token and not auth.granted_scopes:
        raise _token_not_allowed()
    return auth


async def enrolling_user(auth: Annotated[Authenticated, Depends(any_session)]) -> Authenticated:
    """A fully signed-in user, who may still have to set up a second factor."""
    if auth.via_token:
        # Enrolment happens in a browser; a program gets no such grace.
        _require_factors(auth)
        return auth
    if auth.session.stage != "active":
        raise Unauthenticated("Enter your second factor first.", code="second_factor_required")
    return auth


async def signed_in(auth: Annotated[Authenticated, Depends(enrolling_user)]) -> Authenticated:
    """A fully signed-in user with every required factor in place."""
    _require_factors(auth)
    return auth


def _requiring(*permissions: Permission) -> object:
    async def dependency(auth: Annotated[Authenticated, Depends(signed_in)]) -> Authenticated:
        if not any(auth.actor.can(permission) for permission in permissions):
            raise Forbidden("You are not allowed to do this.", code="forbidden")
        return auth

    return dependency


AnySession = Annotated[Authenticated, Depends(any_session)]
EnrollingUser = Annotated[Authenticated, Depends(enrolling_user)]
SignedIn = Annotated[Authenticated, Depends(signed_in)]
UserSupervisor = Annotated[
    Authenticated, Depends(_requiring(Permission.SUPERVISE_USERS, Permission.MANAGE_STAFF))
]
PlatformAdmin = Annotated[Authenticated, Depends(_requiring(Permission.MANAGE_CUSTOMER_ACCOUNTS))]
MaybeSignedIn = Annotated[Authenticated | None, Depends(optional_session)]
Keyring = Annotated[MasterKeyring, Depends(keyring_of)]


def new_anonymous_csrf() -> str:
    return secrets.token_urlsafe(32)


def anonymous_csrf_ok(request: Request, supplied: str) -> bool:
    """Double-submit check for forms shown before sign-in (sign-in, invitation)."""
    cookie = request.cookies.get(ANONYMOUS_CSRF_COOKIE, "")
    return bool(cookie) and hmac.compare_digest(cookie, supplied)


def require_anonymous_csrf(request: Request, supplied: str) -> None:
    """Refuse a pre-sign-in form whose hidden token does not match its cookie."""
    if not anonymous_csrf_ok(request, supplied):
        raise Forbidden("The form expired. Reload the page and try again.", code="csrf_failed")


def render_anonymous_form(
    request: Request, template: str, context: dict[str, Any], status: int = 200
) -> Response:
    """A form shown without a session, with a double-submit CSRF token (cookie and field)."""
    token = request.cookies.get(ANONYMOUS_CSRF_COOKIE) or new_anonymous_csrf()
    response = render(request, template, {**context, "csrf": token}, status_code=status)
    response.set_cookie(
        ANONYMOUS_CSRF_COOKIE, token, path="/", secure=True, httponly=True, samesite="strict"
    )
    return response
