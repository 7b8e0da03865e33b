"""The admin's JSON doors to a user's sessions, devices and sign-in history, and the account's
sign-ins per day (`amanat.supervision.activity`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from amanat.activity.schemas import DayCountOut, DeviceOut, SecurityEventOut
from amanat.activity.service import EVENT_KINDS, OUTCOMES
from amanat.identity.api_tokens import ApiScope
from amanat.identity.schemas import SessionOut, session_out
from amanat.supervision import activity as supervised
from amanat.web.auth import (
    UserSupervisor,
    require_scope,
)
from amanat.web.deps import DbSession

router = APIRouter(prefix="/api/v1", tags=["activity"])


KindFilter = Annotated[str | None, Query(pattern="^(" + "|".join(EVENT_KINDS) + ")$")]


OutcomeFilter = Annotated[str | None, Query(pattern="^(" + "|".join(OUTCOMES) + ")$")]


DEFAULT_CHART_DAYS = 30


@router.get(
    "/users/{user_id}/sessions",
    response_model=list[SessionOut],
    summary="A user's sessions, with browser, OS, device type and network",
    dependencies=[require_scope(ApiScope.USERS_READ)],
)
async def user_sessions(user_id: str, auth: UserSupervisor, db: DbSession) -> list[SessionOut]:
    return [session_out(row) for row in await supervised.sessions_of(db, auth.actor, user_id)]


@router.get(
    "/users/{user_id}/devices",
    response_model=list[DeviceOut],
    summary="A user's devices",
    dependencies=[require_scope(ApiScope.USERS_READ)],
)
async def user_devices(user_id: str, auth: UserSupervisor, db: DbSession) -> list[DeviceOut]:
    return [DeviceOut.of(view) for view in await supervised.devices_of(db, auth.actor, user_id)]


@router.get(
    "/users/{user_id}/signins",
    response_model=list[SecurityEventOut],
    summary="A user's sign-in and security history, newest first",
    dependencies=[require_scope(ApiScope.USERS_READ)],
)
async def user_signins(
    user_id: str,
    auth: UserSupervisor,
    db: DbSession,
    kind: KindFilter = None,
    outcome: OutcomeFilter = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[SecurityEventOut]:
    rows = await supervised.sign_ins_of(
        db,
        auth.actor,
        user_id,
        kinds=[kind] if kind else None,
        outcome=outcome,
        since=since,
        until=until,
        limit=limit,
    )
    return [SecurityEventOut.of(row) for row in rows]


@router.get(
    "/activity/sign-ins-per-day",
    response_model=list[DayCountOut],
    summary="Sign-ins and failures per day across my account",
    dependencies=[require_scope(ApiScope.USERS_READ)],
)
async def sign_ins_per_day(
    auth: UserSupervisor,
    db: DbSession,
    days: Annotated[int, Query(ge=1, le=supervised.CHART_MAX_DAYS)] = DEFAULT_CHART_DAYS,
) -> list[DayCountOut]:
    counts = await supervised.account_sign_ins_per_day(db, auth.actor, days)
    return [DayCountOut.of(count) for count in counts]
