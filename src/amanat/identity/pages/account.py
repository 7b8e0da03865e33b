"""The signed-in person's own account pages: overview and sessions, password, second factor."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from amanat.activity.context import RequestCtx
from amanat.core.errors import InvalidInput, TooManyRequests
from amanat.identity import devices, mfa_enrolment, password_change
from amanat.identity.password_policy import STRENGTH_LABELS
from amanat.identity.sessions import list_sessions
from amanat.people.personal_data import read_person
from amanat.web.auth import (
    EnrollingUser,
    Keyring,
    SignedIn,
)
from amanat.web.deps import CurrentSettings, DbSession
from amanat.web.problems import with_refusal_headers
from amanat.web.templating import render

router = APIRouter(include_in_schema=False)


def _page(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    return render(request, f"identity/{template}", context, status_code=status)


@router.get("/account")
async def account_page(request: Request, auth: SignedIn, db: DbSession, ring: Keyring) -> Response:
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
        },
    )


@router.post("/account/sessions/{session_id}/end")
async def end_one_session(
    session_id: str, auth: SignedIn, db: DbSession, context: RequestCtx
) -> Response:
    await devices.end_my_session(db, auth.user, session_id, context)
    return RedirectResponse("/account/devices", status_code=303)


@router.post("/account/sessions/end-others")
async def end_other_sessions(auth: SignedIn, db: DbSession, context: RequestCtx) -> Response:
    await devices.end_my_other_sessions(db, auth.user, auth.session.id, context)
    return RedirectResponse("/account/devices", status_code=303)


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
    try:
        # No savepoint: a refusal writes only what must stay (a wrong current password counts
        # toward the user's sign-in lock), and the page's answer commits it.
        await password_change.change_password(
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
    return RedirectResponse("/account", status_code=303)


@router.get("/account/mfa")
async def mfa_form(request: Request, auth: EnrollingUser, db: DbSession, ring: Keyring) -> Response:
    if auth.user.mfa_enabled_at is not None:
        return RedirectResponse("/account", status_code=303)
    enrolment = await mfa_enrolment.pending_totp_enrolment(ring, auth.user)
    if enrolment is None:
        enrolment = await mfa_enrolment.start_totp_enrolment(db, ring, user=auth.user)
    return _page(request, "mfa_setup.html", {"auth": auth, "enrolment": enrolment})


@router.post("/account/mfa")
async def mfa_submit(
    request: Request,
    auth: EnrollingUser,
    db: DbSession,
    ring: Keyring,
    code: Annotated[str, Form(max_length=16)],
    context: RequestCtx,
) -> Response:
    try:
        codes = await mfa_enrolment.confirm_totp_enrolment(
            db, ring, user=auth.user, code=code, session_id=auth.session.id, context=context
        )
    except InvalidInput as exc:
        enrolment = await mfa_enrolment.pending_totp_enrolment(ring, auth.user)
        return _page(
            request,
            "mfa_setup.html",
            {"auth": auth, "enrolment": enrolment, "error": exc.message},
            422,
        )
    auth.needs_mfa_enrolment = False
    return _page(request, "mfa_setup.html", {"auth": auth, "codes": codes})
