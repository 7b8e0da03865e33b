"""Devices and sessions over HTTP: the person's page and API, the admin's view of their users'
sessions, devices and sign-in history, the account's sign-in chart, and the "this was not me"
link of a new-device alert. Routes translate HTTP to `devices` / `not_me` calls and back."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import RedirectResponse, Response

from amanat.activity.chart import sign_in_chart
from amanat.activity.context import RequestCtx
from amanat.activity.schemas import DayCountOut, DeviceOut, SecurityEventOut
from amanat.activity.service import EVENT_KINDS, OUTCOMES, TEMPLATE_DIR
from amanat.identity import devices, not_me
from amanat.identity.api import session_out
from amanat.identity.api_tokens import ApiScope
from amanat.identity.pages import _require_anonymous_csrf
from amanat.identity.schemas import CountOut, SessionOut
from amanat.web.auth import (
    ANONYMOUS_CSRF_COOKIE,
    SignedIn,
    UserSupervisor,
    new_anonymous_csrf,
    require_scope,
)
from amanat.web.deps import DbSession
from amanat.web.templating import add_template_dir, render

add_template_dir(TEMPLATE_DIR)

router = APIRouter()
api = APIRouter(prefix="/api/v1", tags=["activity"])
pages = APIRouter(include_in_schema=False)

KindFilter = Annotated[str | None, Query(pattern="^(" + "|".join(EVENT_KINDS) + ")$")]
OutcomeFilter = Annotated[str | None, Query(pattern="^(" + "|".join(OUTCOMES) + ")$")]
DEFAULT_CHART_DAYS = 30


# --- JSON API ---


@api.get("/me/devices", response_model=list[DeviceOut], summary="My devices")
async def my_devices(auth: SignedIn, context: RequestCtx, db: DbSession) -> list[DeviceOut]:
    return [DeviceOut.of(view) for view in await devices.my_devices(db, auth.user, context)]


@api.post(
    "/me/sessions/end-others",
    response_model=CountOut,
    summary="End every session of mine but this one",
)
async def end_my_other_sessions(auth: SignedIn, context: RequestCtx, db: DbSession) -> CountOut:
    ended = await devices.end_my_other_sessions(db, auth.user, auth.session.id, context)
    return CountOut(count=ended)


@api.get(
    "/users/{user_id}/sessions",
    response_model=list[SessionOut],
    summary="A user's sessions, with browser, OS, device type and network",
    dependencies=[require_scope(ApiScope.USERS_READ)],
)
async def user_sessions(user_id: str, auth: UserSupervisor, db: DbSession) -> list[SessionOut]:
    return [session_out(row) for row in await devices.sessions_of(db, auth.actor, user_id)]


@api.get(
    "/users/{user_id}/devices",
    response_model=list[DeviceOut],
    summary="A user's devices",
    dependencies=[require_scope(ApiScope.USERS_READ)],
)
async def user_devices(user_id: str, auth: UserSupervisor, db: DbSession) -> list[DeviceOut]:
    return [DeviceOut.of(view) for view in await devices.devices_of(db, auth.actor, user_id)]


@api.get(
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
    rows = await devices.sign_ins_of(
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


@api.get(
    "/activity/sign-ins-per-day",
    response_model=list[DayCountOut],
    summary="Sign-ins and failures per day across my account",
    dependencies=[require_scope(ApiScope.USERS_READ)],
)
async def sign_ins_per_day(
    auth: UserSupervisor,
    db: DbSession,
    days: Annotated[int, Query(ge=1, le=devices.CHART_MAX_DAYS)] = DEFAULT_CHART_DAYS,
) -> list[DayCountOut]:
    counts = await devices.account_sign_ins_per_day(db, auth.actor, days)
    return [DayCountOut.of(count) for count in counts]


# --- HTML pages ---


def _page(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    return render(request, f"activity/{template}", context, status_code=status)


def _anonymous_page(request: Request, template: str, context: dict[str, Any]) -> Response:
    """A form shown without a session, with a double-submit CSRF token (cookie and field)."""
    token = request.cookies.get(ANONYMOUS_CSRF_COOKIE) or new_anonymous_csrf()
    response = _page(request, template, {**context, "csrf": token})
    response.set_cookie(
        ANONYMOUS_CSRF_COOKIE, token, path="/", secure=True, httponly=True, samesite="strict"
    )
    return response


@pages.get("/account/devices")
async def devices_page(
    request: Request, auth: SignedIn, context: RequestCtx, db: DbSession
) -> Response:
    return _page(
        request,
        "devices.html",
        {
            "auth": auth,
            "sessions": await devices.my_sessions(db, auth.user, auth.session.id),
            "devices": await devices.my_devices(db, auth.user, context),
        },
    )


@pages.get("/admin/activity")
async def account_activity_page(
    request: Request,
    auth: UserSupervisor,
    db: DbSession,
    days: Annotated[int, Query(ge=7, le=devices.CHART_MAX_DAYS)] = DEFAULT_CHART_DAYS,
) -> Response:
    counts = await devices.account_sign_ins_per_day(db, auth.actor, days)
    return _page(
        request,
        "account_activity.html",
        {
            "auth": auth,
            "days": days,
            "counts": counts,
            "chart": sign_in_chart(counts, title=f"Sign-ins per day, last {days} days"),
        },
    )


@pages.get("/not-me/{token}")
async def not_me_form(request: Request, token: str, db: DbSession) -> Response:
    # Showing the page changes nothing (a mail scanner may fetch it); the button acts.
    user = await not_me.not_me_details(db, token)
    return _anonymous_page(request, "not_me.html", {"username": user.username})


@pages.post("/not-me/{token}")
async def not_me_submit(
    request: Request,
    token: str,
    context: RequestCtx,
    db: DbSession,
    csrf_token: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    _require_anonymous_csrf(request, csrf_token)
    await not_me.disown_sign_in(db, token=token, context=context)
    # The same link now sets a new password (and is used up by it).
    return RedirectResponse(f"/reset/{token}", status_code=303)


router.include_router(api)
router.include_router(pages)
