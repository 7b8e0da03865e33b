"""The signed-in person's own account pages: overview and sessions, password, time zone.

Every form answers with a redirect and a message saying what happened (POST/redirect/GET); a
form with a mistake comes back with the field's message instead. The second factor's pages
are in `mfa.py`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from amanat.activity.context import RequestCtx
from amanat.audit.event_words import role_words
from amanat.core.errors import InvalidInput, TooManyRequests
from amanat.identity import devices, mfa_upkeep, password_change, preferences
from amanat.identity.password_policy import STRENGTH_LABELS
from amanat.identity.return_to import take_return
from amanat.identity.sessions import list_sessions
from amanat.people.personal_data import read_person
from amanat.web.auth import Authenticated, EnrollingUser, Keyring, SignedIn
from amanat.web.confirm import confirmation_page, require_confirmed
from amanat.web.deps import CurrentSettings, DbSession
from amanat.web.flash import redirect_with
from amanat.web.localtime import time_zone_names, zone_named
from amanat.web.problems import with_refusal_headers
from amanat.web.templating import render

router = APIRouter(include_in_schema=False)


def _page(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    return render(request, f"identity/{template}", context, status_code=status)


async def _account_page(
    request: Request,
    auth: Authenticated,
    db: DbSession,
    ring: Keyring,
    *,
    status: int = 200,
    **extra: Any,
) -> Response:
    person = await read_person(db, ring, auth.user.person_id) if auth.user.person_id else None
    strength = auth.user.password_strength
    return _page(
        request,
        "account.html",
        {
            "auth": auth,
            "person": person,
            "sessions": await list_sessions(db, auth.user.id),
            "strength_label": STRENGTH_LABELS[strength] if strength is not None else "unknown",
            "codes_left": await mfa_upkeep.recovery_codes_left(db, auth.user),
            "time_zones": time_zone_names(),
            "time_zone": zone_named(auth.user.time_zone).key,
            "role_words": role_words(auth.user.role.value),
            **extra,
        },
        status,
    )


@router.get("/account")
async def account_page(request: Request, auth: SignedIn, db: DbSession, ring: Keyring) -> Response:
    return await _account_page(request, auth, db, ring)


def _time_zone_page(
    request: Request, auth: SignedIn, status: int = 200, error: str = ""
) -> Response:
    # A page of its own, so a refusal shows the form and its message and nothing personal.
    return render(
        request,
        "identity/time_zone.html",
        {
            "auth": auth,
            "time_zones": time_zone_names(),
            "time_zone": zone_named(auth.user.time_zone).key,
            "time_zone_error": error,
        },
        status_code=status,
    )


@router.get("/account/time-zone")
async def time_zone_form(request: Request, auth: SignedIn) -> Response:
    return _time_zone_page(request, auth)


@router.post("/account/time-zone")
async def time_zone_submit(
    request: Request,
    auth: SignedIn,
    db: DbSession,
    ring: Keyring,
    time_zone: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    try:
        chosen = await preferences.set_time_zone(db, auth.user, time_zone)
    except InvalidInput as exc:
        return _time_zone_page(request, auth, 400, exc.message)
    return redirect_with("/account", f"Times now show in {chosen}.")


@router.post("/account/sessions/{session_id}/end")
async def end_one_session(
    session_id: str, auth: SignedIn, db: DbSession, context: RequestCtx
) -> Response:
    await devices.end_my_session(db, auth.user, session_id, context)
    return redirect_with("/account/devices", "Session ended: that browser is signed out.")


@router.get("/account/sessions/end-others")
async def end_other_sessions_confirm(request: Request, auth: SignedIn) -> Response:
    return confirmation_page(
        request,
        auth,
        title="Sign out everywhere else",
        consequences=[
            "End every session of your account except this one.",
            "Sign out every other browser and device now; they will need your password (and"
            " second factor) again.",
        ],
        action="/account/sessions/end-others",
        button="End all other sessions",
        back="/account/devices",
    )


@router.post("/account/sessions/end-others")
async def end_other_sessions(
    auth: SignedIn,
    db: DbSession,
    context: RequestCtx,
    confirmed: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    require_confirmed(confirmed)
    ended = await devices.end_my_other_sessions(db, auth.user, auth.session.id, context)
    words = "1 other session" if ended == 1 else f"{ended} other sessions"
    return redirect_with("/account/devices", f"Ended {words}; this one stays signed in.")


@router.get("/account/password")
async def password_form(request: Request, auth: EnrollingUser) -> Response:
    return _page(request, "change_password.html", {"auth": auth})


@router.post("/account/password")
async def password_submit(
    request: Request,
    auth: EnrollingUser,
    db: DbSession,
    ring: Keyring,
    settings: CurrentSettings,
    current_password: Annotated[str, Form(max_length=1024)],
    new_password: Annotated[str, Form(max_length=1024)],
    context: RequestCtx,
    end_other_sessions: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    forced = auth.user.must_change_password
    try:
        # No savepoint: a refusal writes only what must stay (a wrong current password counts
        # toward the user's sign-in lock), and the page's answer commits it.
        ended = await password_change.change_password(
            db,
            ring,
            settings,
            user=auth.user,
            current_session_id=auth.session.id,
            current_password=current_password,
            new_password=new_password,
            end_other_sessions=end_other_sessions == "yes",
            context=context,
        )
    except (InvalidInput, TooManyRequests) as exc:
        page = _page(
            request, "change_password.html", {"auth": auth, "error": exc.message}, exc.status
        )
        return with_refusal_headers(page, exc)
    message = "Password changed."
    if ended:
        message += " Your other sessions were ended."
    # A change forced at sign-in was its last step: on to the page first asked for.
    target = take_return(auth.session) if forced else "/account"
    return redirect_with(target, message)
