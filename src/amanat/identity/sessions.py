"""Server-side sessions: opaque 256-bit tokens, hashed at rest, idle and absolute timeouts,
a cap on parallel sessions, and revocation (ASVS V7)."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import Select, bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.core.clock import utcnow
from amanat.core.db import keep_loaded
from amanat.core.ids import new_id
from amanat.core.settings import Settings
from amanat.identity.models import ACCOUNT_STATUSES_IN_USE, CustomerAccount, User, UserSession
from amanat.identity.tokens import new_secret_token, token_digest

# Writing last_seen_at on every request would turn each read into a write; a minute of
# slack on a 30-minute idle timeout is harmless.
TOUCH_INTERVAL = timedelta(seconds=60)


@cache
def _sessions_beyond(kept: int) -> Select[str]:
    # Built once per cap (a setting): on every sign-in, building a statement cost more than
    # running it.
    return (
        select(UserSession.id)
        .where(UserSession.user_id == bindparam("user_id"))
        .order_by(UserSession.created_at.desc(), UserSession.id)
        .offset(kept)
    )


async def start_session(
    session: AsyncSession, settings: Settings, *, user: User, stage: str
) -> tuple[str, UserSession]:
    """A fresh token for a new sign-in; the oldest sessions beyond the cap are ended."""
    now = utcnow()
    token = new_secret_token()
    # An account may shorten the platform's limit, never lengthen it (sign-in loaded the row).
    account = await session.get(CustomerAccount, user.account_id)
    hours = settings.session_absolute_hours
    if account is not None and account.session_hours:
        hours = min(hours, account.session_hours)
    row = UserSession(
        id=new_id(),
        token_hash=token_digest(token),
        account_id=user.account_id,
        user_id=user.id,
        stage=stage,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=hours),
        reauthenticated_at=now,
    )
    # Only the surplus comes back (usually nothing), not every session the user holds. Asked
    # before the new row is added, so no flush is needed first: the new row goes out with the
    # unit of work's next flush.
    surplus = (
        await session.scalars(
            _sessions_beyond(settings.max_sessions_per_user - 1), {"user_id": user.id}
        )
    ).all()
    if surplus:
        await session.execute(delete(UserSession).where(UserSession.id.in_(surplus)))
    session.add(row)
    return token, row


# Every authenticated request runs this: built once (the bound hash is its only variable).
_SESSION_BY_TOKEN = (
    select(UserSession, User, CustomerAccount)
    .join(User, User.id == UserSession.user_id)
    .join(CustomerAccount, CustomerAccount.id == User.account_id)
    .where(UserSession.token_hash == bindparam("token_hash"))
)


def session_expired(row: UserSession, settings: Settings, now: datetime) -> bool:
    idle_limit = row.last_seen_at + timedelta(minutes=settings.session_idle_minutes)
    return now >= row.expires_at or now >= idle_limit


async def resolve_session(
    session: AsyncSession, settings: Settings, token: str
) -> tuple[UserSession, User] | None:
    """The live session and its user for a cookie token, or None (expired ones are deleted, and
    so are those of a user or customer account no longer in use)."""
    found = (await session.execute(_SESSION_BY_TOKEN, {"token_hash": token_digest(token)})).first()
    if found is None:
        return None
    row, user, account = found
    # The request's later checks (MFA policy) read the account: keep it in the session.
    keep_loaded(session, account)
    now = utcnow()
    if (
        user.status != "active"
        or account.status not in ACCOUNT_STATUSES_IN_USE
        or session_expired(row, settings, now)
    ):
        await session.delete(row)
        await session.flush()
        return None
    if now - row.last_seen_at >= TOUCH_INTERVAL:
        row.last_seen_at = now
    return row, user


async def end_session(session: AsyncSession, session_id: str) -> None:
    await session.execute(delete(UserSession).where(UserSession.id == session_id))


async def end_all_sessions(
    session: AsyncSession, user_id: str, *, keep_session_id: str | None = None
) -> int:
    """End every session of a user (all but one when `keep_session_id` is given)."""
    statement = delete(UserSession).where(UserSession.user_id == user_id)
    if keep_session_id is not None:
        statement = statement.where(UserSession.id != keep_session_id)
    result = await session.execute(statement.execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


async def list_sessions(session: AsyncSession, user_id: str) -> list[UserSession]:
    rows = await session.scalars(
        select(UserSession)
        .where(UserSession.user_id == user_id)
        .order_by(UserSession.last_seen_at.desc())
    )
    return list(rows)
