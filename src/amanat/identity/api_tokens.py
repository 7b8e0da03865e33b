"""API tokens for programs: scoped, expiring, shown once, stored hashed, with a visible prefix.

A token reads `amn_<prefix>_<secret>`: the 8-character prefix is public (users and logs recognise
a token by it), the secret is 256 bits from `secrets`, and only the SHA-256 of the whole token is
stored (ASVS V7.2.1, V11.5.1). A token never does more than its owner's role allows: its scopes
are checked against the role when it is made and again at every use, so a demoted owner's tokens
lose the power the new role lacks (ASVS V8.2.1).
"""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.access.actors import Actor
from amanat.access.roles import Permission, Role, allows
from amanat.audit.records import record_event
from amanat.core.clock import utcnow
from amanat.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from amanat.core.ids import new_id
from amanat.core.logging import get_logger
from amanat.identity.models import ACCOUNT_STATUSES_IN_USE, ApiToken, CustomerAccount, User
from amanat.identity.tokens import new_secret_token, token_digest


class ApiScope(StrEnum):
    """What a program may do with a token; each route that admits tokens names one."""

    PROFILE_READ = "profile:read"
    USERS_READ = "users:read"
    USERS_WRITE = "users:write"


SCOPE_DESCRIPTIONS: dict[ApiScope, str] = {
    ApiScope.PROFILE_READ: "Read my own profile",
    ApiScope.USERS_READ: "List and read the users I supervise (masked)",
    ApiScope.USERS_WRITE: "Invite, suspend, reactivate and remove the users I supervise",
}

# A scope is within a role when the role holds any one of these permissions.
_SCOPE_PERMISSIONS: dict[ApiScope, frozenset[Permission]] = {
    ApiScope.PROFILE_READ: frozenset({Permission.USE_API_TOKENS}),
    ApiScope.USERS_READ: frozenset({Permission.SUPERVISE_USERS, Permission.MANAGE_STAFF}),
    ApiScope.USERS_WRITE: frozenset({Permission.SUPERVISE_USERS, Permission.MANAGE_STAFF}),
}

TOKEN_MARK = "amn_"  # noqa: S105 (a public marker, not a secret)
PREFIX_LENGTH = 8
PREFIX_ALPHABET = string.ascii_lowercase + string.digits
MIN_VALID_DAYS = 1
MAX_VALID_DAYS = 365
DEFAULT_VALID_DAYS = 90
MAX_LIVE_TOKENS_PER_USER = 20
NAME_MAX_LENGTH = 100
# Like a session's last_seen_at: a minute of slack saves a write on every request.
TOUCH_INTERVAL = timedelta(seconds=60)

# amn_ + prefix + _ + token_urlsafe(32), which is 43 characters of the URL-safe alphabet.
TOKEN_PATTERN = re.compile(r"amn_([a-z0-9]{8})_[A-Za-z0-9_-]{43}")
TOKEN_MAX_LENGTH = 64

_log = get_logger("amanat.identity")


@dataclass(frozen=True)
class ApiTokenSummary:
    """What the owner sees of a token: never the secret, never its hash."""

    id: str
    name: str
    prefix: str
    scopes: tuple[str, ...]
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    expired: bool

    @property
    def hint(self) -> str:
        """How the token begins, enough to tell it apart from the owner's others."""
        return f"{TOKEN_MARK}{self.prefix}_…"


def role_allows_scope(role: Role, scope: ApiScope) -> bool:
    return allows(role, Permission.USE_API_TOKENS) and any(
        allows(role, permission) for permission in _SCOPE_PERMISSIONS[scope]
    )


def scopes_for_role(role: Role) -> list[ApiScope]:
    """The scopes a user of this role may put on a token, in a stable order."""
    return [scope for scope in ApiScope if role_allows_scope(role, scope)]


def stored_scopes(row: ApiToken) -> frozenset[ApiScope]:
    """The scopes written on a token; a value this version does not know grants nothing."""
    known = {scope.value for scope in ApiScope}
    return frozenset(ApiScope(value) for value in row.scopes.split() if value in known)


def effective_scopes(row: ApiToken, role: Role) -> frozenset[ApiScope]:
    """The token's scopes that its owner's current role still allows."""
    return frozenset(scope for scope in stored_scopes(row) if role_allows_scope(role, scope))


def _new_prefix() -> str:
    return "".join(secrets.choice(PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))


def summarize(row: ApiToken, now: datetime | None = None) -> ApiTokenSummary:
    """The owner's view of a token row."""
    now = now or utcnow()
    return ApiTokenSummary(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        scopes=tuple(sorted(stored_scopes(row))),
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        expired=row.expires_at <= now,
    )


def _check_name(name: str) -> str:
    cleaned = name.strip()
    if not 1 <= len(cleaned) <= NAME_MAX_LENGTH or not cleaned.isprintable():
        raise InvalidInput(
            f"Give the token a name of 1 to {NAME_MAX_LENGTH} printable characters.",
            code="invalid_token_name",
            field="name",
        )
    return cleaned


def _check_scopes(scopes: list[str] | tuple[str, ...] | frozenset[str], role: Role) -> list[str]:
    known = {scope.value for scope in ApiScope}
    chosen = set(scopes)
    if not chosen or not chosen <= known:
        raise InvalidInput(
            "Choose one or more of the listed scopes.", code="invalid_scopes", field="scopes"
        )
    refused = sorted(value for value in chosen if not role_allows_scope(role, ApiScope(value)))
    if refused:
        raise Forbidden(
            "A token cannot do more than your role allows: " + ", ".join(refused) + ".",
            code="scope_not_allowed",
        )
    return sorted(chosen)


def _check_valid_days(valid_days: int) -> int:
    if (
        isinstance(valid_days, bool)
        or not isinstance(valid_days, int)
        or not MIN_VALID_DAYS <= valid_days <= MAX_VALID_DAYS
    ):
        raise InvalidInput(
            f"A token is valid for {MIN_VALID_DAYS} to {MAX_VALID_DAYS} days.",
            code="invalid_valid_days",
            field="valid_days",
        )
    return valid_days


def _require_person_at_the_keyboard(actor: Actor) -> str:
    # Tokens are made and revoked by their owner in a signed-in session: a token cannot mint
    # another (no escalation by chaining), and the operator has no user to own one.
    if actor.via == "token":
        raise Forbidden(
            "API tokens cannot manage API tokens. Sign in to do this.", code="token_not_allowed"
        )
    if actor.user_id is None or actor.is_operator:
        raise Forbidden("API tokens belong to a signed-in user.", code="forbidden")
    return actor.user_id


async def create_api_token(
    session: AsyncSession,
    actor: Actor,
    *,
    name: str,
    scopes: list[str] | tuple[str, ...] | frozenset[str],
    valid_days: int = DEFAULT_VALID_DAYS,
) -> tuple[ApiToken, str]:
    """Make a token for the actor; returns the row and the plaintext, which is never seen again."""
    user_id = _require_person_at_the_keyboard(actor)
    # The row lock makes the count below and the insert one step: concurrent requests cannot
    # pass the limit together (PostgreSQL; SQLite has a single writer anyway).
    user = await session.scalar(select(User).where(User.id == user_id).with_for_update())
    if user is None or user.status != "active" or user.account_id != actor.account_id:
        raise Forbidden("You are not allowed to do this.", code="forbidden")
    if not allows(user.role, Permission.USE_API_TOKENS):
        raise Forbidden("You are not allowed to do this.", code="forbidden")
    cleaned_name = _check_name(name)
    chosen = _check_scopes(scopes, user.role)
    days = _check_valid_days(valid_days)
    now = utcnow()
    live = await session.scalar(
        select(func.count())
        .select_from(ApiToken)
        .where(
            ApiToken.user_id == user.id,
            ApiToken.revoked_at.is_(None),
            ApiToken.expires_at > now,
        )
    )
    if (live or 0) >= MAX_LIVE_TOKENS_PER_USER:
        raise Conflict(
            f"You have {MAX_LIVE_TOKENS_PER_USER} live tokens already. Revoke one first.",
            code="too_many_api_tokens",
        )
    prefix = _new_prefix()
    plaintext = f"{TOKEN_MARK}{prefix}_{new_secret_token()}"
    row = ApiToken(
        id=new_id(),
        token_hash=token_digest(plaintext),
        prefix=prefix,
        name=cleaned_name,
        scopes=" ".join(chosen),
        account_id=user.account_id,
        user_id=user.id,
        created_at=now,
        expires_at=now + timedelta(days=days),
        last_used_at=None,
        revoked_at=None,
    )
    session.add(row)
    await session.flush()
    await record_event(
        session,
        actor=actor.audit(),
        action="api_token.create",
        account_id=user.account_id,
        target_type="api_token",
        target_id=row.id,
        details={"prefix": prefix, "scopes": row.scopes, "valid_days": days},
    )
    return row, plaintext


async def list_api_tokens(session: AsyncSession, actor: Actor) -> list[ApiTokenSummary]:
    """The actor's own tokens that are not revoked (expired ones too, marked), newest first."""
    user_id = _require_person_at_the_keyboard(actor)
    rows = await session.scalars(
        select(ApiToken)
        .where(
            ApiToken.user_id == user_id,
            ApiToken.account_id == actor.account_id,
            ApiToken.revoked_at.is_(None),
        )
        .order_by(ApiToken.created_at.desc(), ApiToken.id)
    )
    now = utcnow()
    return [summarize(row, now) for row in rows]


async def revoke_api_token(session: AsyncSession, actor: Actor, token_id: str) -> ApiTokenSummary:
    """Revoke one of the actor's own tokens at once; anyone else's is "not found"."""
    user_id = _require_person_at_the_keyboard(actor)
    row = await session.scalar(
        select(ApiToken).where(
            ApiToken.id == token_id[:36],
            ApiToken.user_id == user_id,
            ApiToken.account_id == actor.account_id,
            ApiToken.revoked_at.is_(None),
        )
    )
    if row is None:
        raise NotFound("No such API token.", code="api_token_not_found")
    now = utcnow()
    row.revoked_at = now
    await record_event(
        session,
        actor=actor.audit(),
        action="api_token.revoke",
        account_id=row.account_id,
        target_type="api_token",
        target_id=row.id,
        details={"prefix": row.prefix},
    )
    await session.flush()
    return summarize(row, now)


async def resolve_api_token(session: AsyncSession, plaintext: str) -> tuple[ApiToken, User] | None:
    """The live token and its active owner for a bearer value, or None.

    Revoked, expired, unknown and malformed tokens all give None; the refusal is logged with the
    public prefix only.
    """
    match = TOKEN_PATTERN.fullmatch(plaintext) if len(plaintext) <= TOKEN_MAX_LENGTH else None
    if match is None:
        _log.info("api_token_refused", reason="malformed")
        return None
    row = await session.scalar(
        select(ApiToken).where(ApiToken.token_hash == token_digest(plaintext))
    )
    if row is None:
        _log.info("api_token_refused", reason="unknown", token_prefix=match.group(1))
        return None
    now = utcnow()
    reason: str | None = None
    owner = (
        await session.execute(
            select(User, CustomerAccount.status)
            .join(CustomerAccount, CustomerAccount.id == User.account_id)
            .where(User.id == row.user_id)
        )
    ).first()
    user, account_status = (owner[0], owner[1]) if owner is not None else (None, None)
    if row.revoked_at is not None:
        reason = "revoked"
    elif row.expires_at <= now:
        reason = "expired"
    elif user is None or user.status != "active" or user.account_id != row.account_id:
        reason = "owner_inactive"
    elif account_status not in ACCOUNT_STATUSES_IN_USE:
        # Suspension revokes the account's tokens; this also refuses one a race let through.
        reason = "account_suspended"
    if reason is not None or user is None:
        _log.info("api_token_refused", reason=reason, token_prefix=row.prefix, token_id=row.id)
        return None
    if row.last_used_at is None or now - row.last_used_at >= TOUCH_INTERVAL:
        row.last_used_at = now
    return row, user
