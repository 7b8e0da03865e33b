"""HTTP authentication: the session cookie, CSRF, and the typed actor dependencies routes declare
(`actor: SignedIn`, `actor: AccountAdmin` …). Authorization itself stays in the services."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.responses import Response

from amanat.core.crypto import MasterKeyring
from amanat.core.errors import Forbidden, Unauthenticated
from amanat.core.settings import Settings
from amanat.identity.actors import Actor
from amanat.identity.models import User, UserSession
from amanat.identity.roles import Permission
from amanat.identity.sessions import resolve_session
from amanat.identity.signin import mfa_required
from amanat.web.deps import DbSession, app_state

SESSION_COOKIE = "__Host-amanat_session"
ANONYMOUS_CSRF_COOKIE = "__Host-amanat_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class Authenticated:
    actor: Actor
    user: User
    session: UserSession
    token: str
    needs_mfa_enrolment: bool

    @property
    def csrf_token(self) -> str:
        return csrf_token_for(self.token)


def csrf_token_for(session_token: str) -> str:
    """Derived from the session token, so nothing extra is stored and it dies with the session."""
    return hmac.new(session_token.encode(), b"amanat csrf v1", hashlib.sha256).hexdigest()


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
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="lax")
    # Sign-out tells the browser to drop what it kept for us (ASVS V14.3.1).
    response.headers["Clear-Site-Data"] = '"cache", "cookies", "storage"'


def keyring_of(request: Request) -> MasterKeyring:
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


async def verify_csrf(request: Request, expected: str) -> None:
    if request.method in SAFE_METHODS:
        return
    supplied = await _supplied_csrf(request)
    if not supplied or not hmac.compare_digest(supplied, expected):
        raise Forbidden(
            "The form expired or did not come from this site. Reload and retry.", code="csrf_failed"
        )


async def optional_authentication(request: Request, session: DbSession) -> Authenticated | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 128:
        return None
    settings = app_state(request).settings
    found = await resolve_session(session, settings, token)
    if found is None:
        return None
    row, user = found
    await verify_csrf(request, csrf_token_for(token))
    needs_enrolment = user.mfa_enabled_at is None and await mfa_required(session, user)
    actor = Actor(
        user_id=user.id,
        account_id=user.account_id,
        role=user.role,
        session_id=row.id,
        via="session",
    )
    return Authenticated(actor, user, row, token, needs_enrolment)


async def any_session(
    auth: Annotated[Authenticated | None, Depends(optional_authentication)],
) -> Authenticated:
    """Any live session, even one that still owes a second factor (for that step only)."""
    if auth is None:
        # keep_changes: an expired session found on the way is deleted for good.
        raise Unauthenticated("Please sign in.", code="unauthenticated", keep_changes=True)
    return auth


async def enrolling_user(auth: Annotated[Authenticated, Depends(any_session)]) -> Authenticated:
    """A fully signed-in user, who may still have to set up a second factor."""
    if auth.session.stage != "active":
        raise Unauthenticated("Enter your second factor first.", code="second_factor_required")
    return auth


async def signed_in(auth: Annotated[Authenticated, Depends(enrolling_user)]) -> Authenticated:
    """A fully signed-in user with every required factor in place."""
    if auth.needs_mfa_enrolment:
        raise Forbidden("Set up a second factor to continue.", code="mfa_enrolment_required")
    if auth.user.must_change_password:
        raise Forbidden("Choose a new password to continue.", code="password_change_required")
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
MaybeSignedIn = Annotated[Authenticated | None, Depends(optional_authentication)]
Keyring = Annotated[MasterKeyring, Depends(keyring_of)]


def new_anonymous_csrf() -> str:
    return secrets.token_urlsafe(32)


def anonymous_csrf_ok(request: Request, supplied: str) -> bool:
    """Double-submit check for forms shown before sign-in (sign-in, invitation)."""
    cookie = request.cookies.get(ANONYMOUS_CSRF_COOKIE, "")
    return bool(cookie) and hmac.compare_digest(cookie, supplied)
