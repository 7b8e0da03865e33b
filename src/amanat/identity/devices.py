"""Devices and sessions: what a person sees of their own, what an admin sees of their users
(policy §4 "Admin create users and supervise them"), and ending sessions.

Sessions are identity's; the browser, OS, device type and network each was opened from, the
devices and the sign-in history are the activity domain's, reached through its service. Every
look at another user goes through `get_user_for`, so an admin of one account finds nothing of
another (404).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from amanat.activity.service import (
    DeviceView,
    RequestContext,
    list_devices,
    record_security_event,
    session_activity,
)
from amanat.core.errors import NotFound
from amanat.identity.models import User, UserSession
from amanat.identity.sessions import end_all_sessions, end_session, list_sessions


@dataclass(frozen=True)
class SessionDetails:
    """A session with the context of the sign-in that opened it (None where not recorded)."""

    id: str
    current: bool
    stage: str
    first_seen_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    browser: str | None
    browser_version: str | None
    os: str | None
    os_version: str | None
    device_type: str | None
    network: str | None
    device_id: str | None


async def _details(
    db: AsyncSession, rows: Sequence[UserSession], current_session_id: str | None
) -> list[SessionDetails]:
    found = await session_activity(db, [row.id for row in rows])
    details = []
    for row in rows:
        seen = found.get(row.id)
        details.append(
            SessionDetails(
                id=row.id,
                current=row.id == current_session_id,
                stage=row.stage,
                first_seen_at=row.created_at,
                last_seen_at=row.last_seen_at,
                expires_at=row.expires_at,
                browser=seen.browser if seen else None,
                browser_version=seen.browser_version if seen else None,
                os=seen.os if seen else None,
                os_version=seen.os_version if seen else None,
                device_type=seen.device_type if seen else None,
                network=seen.network if seen else None,
                device_id=seen.device_id if seen else None,
            )
        )
    return details


async def sessions_in_detail(
    db: AsyncSession, user_id: str, current_session_id: str | None
) -> list[SessionDetails]:
    """A user's sessions with where each was opened, most recently used first."""
    return await _details(db, await list_sessions(db, user_id), current_session_id)


async def my_sessions(
    db: AsyncSession, user: User, current_session_id: str | None
) -> list[SessionDetails]:
    """The person's own sessions, most recently used first."""
    return await sessions_in_detail(db, user.id, current_session_id)


async def my_devices(db: AsyncSession, user: User, context: RequestContext) -> list[DeviceView]:
    """The person's own devices; `current` marks the one this request comes from."""
    return await list_devices(db, user_id=user.id, context=context)


async def sign_out(
    db: AsyncSession, user: User, session_id: str, context: RequestContext | None
) -> None:
    """End the caller's own session and note it in their history."""
    await end_session(db, session_id)
    await record_security_event(
        db,
        kind="signout",
        user_id=user.id,
        account_id=user.account_id,
        context=context,
        session_id=session_id,
    )


async def sign_out_everywhere(db: AsyncSession, user: User, context: RequestContext | None) -> int:
    """End every session of the caller, this one included."""
    ended = await end_all_sessions(db, user.id)
    await record_security_event(
        db, kind="signout", user_id=user.id, account_id=user.account_id, context=context
    )
    return ended


async def end_my_session(
    db: AsyncSession, user: User, session_id: str, context: RequestContext | None
) -> None:
    """End one of the caller's own sessions; any other id is "not found"."""
    if session_id not in {row.id for row in await list_sessions(db, user.id)}:
        raise NotFound("No such session.", code="session_not_found")
    await end_session(db, session_id)
    await record_security_event(
        db,
        kind="session_revoked",
        user_id=user.id,
        account_id=user.account_id,
        context=context,
        session_id=session_id,
    )


async def end_my_other_sessions(
    db: AsyncSession, user: User, current_session_id: str, context: RequestContext | None
) -> int:
    """End every session of the caller but this one."""
    ended = await end_all_sessions(db, user.id, keep_session_id=current_session_id)
    if ended:
        await record_security_event(
            db,
            kind="session_revoked",
            user_id=user.id,
            account_id=user.account_id,
            context=context,
        )
    return ended
