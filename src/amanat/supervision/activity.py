"""What an admin sees of their users' sessions, devices and sign-in history, and the account's
sign-ins per day (policy §4 "Admin create users and supervise them").

Every look at another user goes through `get_user_for`, so an admin of one account finds nothing
of another (404).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from amanat.access.actors import Actor
from amanat.access.roles import Permission
from amanat.activity.service import (
    DayCount,
    DeviceView,
    EventView,
    daily_sign_ins,
    list_devices,
    list_security_events,
)
from amanat.core.errors import Forbidden
from amanat.identity.devices import SessionDetails, sessions_in_detail
from amanat.identity.users import get_user_for

CHART_MAX_DAYS = 90


async def sessions_of(db: AsyncSession, actor: Actor, user_id: str) -> list[SessionDetails]:
    """A supervised user's sessions (404 for anyone outside the actor's reach)."""
    user = await get_user_for(db, actor, user_id)
    return await sessions_in_detail(db, user.id, actor.session_id)


async def devices_of(db: AsyncSession, actor: Actor, user_id: str) -> list[DeviceView]:
    """A supervised user's devices."""
    user = await get_user_for(db, actor, user_id)
    return await list_devices(db, user_id=user.id)


async def sign_ins_of(
    db: AsyncSession,
    actor: Actor,
    user_id: str,
    *,
    kinds: Sequence[str] | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
) -> list[EventView]:
    """A supervised user's sign-in and security history, newest first, filtered."""
    user = await get_user_for(db, actor, user_id)
    return await list_security_events(
        db, user_id=user.id, kinds=kinds, outcome=outcome, since=since, until=until, limit=limit
    )


async def account_sign_ins_per_day(db: AsyncSession, actor: Actor, days: int) -> list[DayCount]:
    """Sign-ins and failures per day across the actor's own account."""
    allowed = actor.can(Permission.SUPERVISE_USERS) or (
        actor.is_platform_staff and actor.can(Permission.MANAGE_STAFF)
    )
    if not allowed or actor.account_id is None:
        raise Forbidden("You are not allowed to see this account's activity.", code="forbidden")
    return await daily_sign_ins(
        db, account_id=actor.account_id, days=max(1, min(days, CHART_MAX_DAYS))
    )
