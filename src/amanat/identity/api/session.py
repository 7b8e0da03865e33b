"""Signing in and out over JSON: the password step, the second factor, ending sessions, and
accepting an invitation (which sets the first password)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from amanat.activity.context import RequestCtx, set_device_cookie
from amanat.identity import devices, invitations, signin
from amanat.identity.schemas import (
    CountOut,
    InviteAcceptIn,
    SecondFactorIn,
    SigninIn,
    SigninOut,
)
from amanat.web.auth import (
    AnySession,
    EnrollingUser,
    Keyring,
    clear_session_cookie,
    csrf_token_for,
    set_session_cookie,
)
from amanat.web.deps import CurrentSettings, DbSession, client_address

router = APIRouter(prefix="/api/v1", tags=["identity"])


@router.post("/session", response_model=SigninOut, summary="Sign in with a password")
async def create_session(
    body: SigninIn,
    request: Request,
    response: Response,
    db: DbSession,
    ring: Keyring,
    settings: CurrentSettings,
    context: RequestCtx,
) -> SigninOut:
    outcome = await signin.sign_in(
        db,
        ring,
        settings,
        login=body.login,
        password=body.password,
        client_address=client_address(request),
        context=context,
    )
    set_session_cookie(response, settings, outcome.token)
    set_device_cookie(response, context)
    return SigninOut(
        user_id=outcome.user.id,
        username=outcome.user.username,
        needs_second_factor=outcome.needs_second_factor,
        needs_mfa_enrolment=outcome.needs_mfa_enrolment,
        must_change_password=outcome.must_change_password,
        csrf_token=csrf_token_for(outcome.token),
    )


@router.post(
    "/session/second-factor",
    response_model=SigninOut,
    summary="Finish signing in with a TOTP or recovery code",
)
async def second_factor(
    body: SecondFactorIn,
    auth: AnySession,
    request: Request,
    response: Response,
    db: DbSession,
    ring: Keyring,
    settings: CurrentSettings,
    context: RequestCtx,
) -> SigninOut:
    token, _row = await signin.complete_second_factor(
        db,
        ring,
        settings,
        session_row=auth.session,
        user=auth.user,
        code=body.code,
        client_address=client_address(request),
        context=context,
    )
    set_session_cookie(response, settings, token)
    set_device_cookie(response, context)
    return SigninOut(
        user_id=auth.user.id,
        username=auth.user.username,
        needs_second_factor=False,
        needs_mfa_enrolment=False,
        must_change_password=auth.user.must_change_password,
        csrf_token=csrf_token_for(token),
    )


@router.delete("/session", status_code=204, summary="Sign out")
async def delete_session(
    auth: AnySession, response: Response, db: DbSession, context: RequestCtx
) -> Response:
    await devices.sign_out(db, auth.user, auth.session.id, context)
    clear_session_cookie(response)
    response.status_code = 204
    return response


@router.post(
    "/session/sign-out-everywhere",
    response_model=CountOut,
    summary="End every session of mine, this one included",
)
async def sign_out_everywhere(
    auth: EnrollingUser, response: Response, db: DbSession, context: RequestCtx
) -> CountOut:
    count = await devices.sign_out_everywhere(db, auth.user, context)
    clear_session_cookie(response)
    return CountOut(count=count)


@router.post(
    "/invites/accept",
    response_model=CountOut,
    summary="Set the first password through an invitation (and choose a username when it "
    "asks for one)",
)
async def accept_invite(
    body: InviteAcceptIn, db: DbSession, ring: Keyring, settings: CurrentSettings
) -> CountOut:
    await invitations.accept_invite(
        db, ring, settings, token=body.token, password=body.password, username=body.username
    )
    return CountOut(count=1)
