"""The signed-in person's own credentials over JSON: who I am, my password, my second factor,
my sessions, and the strength meter."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response

from amanat.activity.context import RequestCtx
from amanat.identity import devices, mfa_enrolment, password_change
from amanat.identity.api_tokens import ApiScope
from amanat.identity.credentials import password_problems
from amanat.identity.password_policy import PasswordContext, estimate_strength
from amanat.identity.schemas import (
    CountOut,
    MeOut,
    PasswordChangeIn,
    PasswordProblemOut,
    RecoveryCodesOut,
    SessionOut,
    StrengthIn,
    StrengthOut,
    TotpConfirmIn,
    TotpEnrolmentOut,
    session_out,
)
from amanat.people.personal_data import read_person
from amanat.web.auth import (
    EnrollingUser,
    Keyring,
    SignedIn,
    require_scope,
)
from amanat.web.deps import CurrentSettings, DbSession

router = APIRouter(prefix="/api/v1", tags=["identity"])


@router.get(
    "/me",
    response_model=MeOut,
    summary="Who I am",
    dependencies=[require_scope(ApiScope.PROFILE_READ)],
)
async def me(auth: EnrollingUser, db: DbSession, ring: Keyring) -> MeOut:
    user = auth.user
    full_name = email = ""
    if user.person_id is not None:
        person = await read_person(db, ring, user.person_id)
        full_name, email = person.full_name, person.email  # a person sees their own data
    return MeOut(
        id=user.id,
        username=user.username,
        account_id=user.account_id,
        role=user.role,
        status=user.status,
        full_name=full_name,
        email=email,
        mfa_enabled=user.mfa_enabled_at is not None,
        password_changed_at=user.password_changed_at,
        last_signin_at=user.last_signin_at,
        csrf_token=auth.csrf_token,
    )


@router.post("/me/password", response_model=CountOut, summary="Change my password")
async def change_my_password(
    body: PasswordChangeIn,
    auth: EnrollingUser,
    db: DbSession,
    ring: Keyring,
    settings: CurrentSettings,
    context: RequestCtx,
) -> CountOut:
    ended = await password_change.change_password(
        db,
        ring,
        settings,
        user=auth.user,
        current_session_id=auth.session.id,
        current_password=body.current_password,
        new_password=body.new_password,
        end_other_sessions=body.end_other_sessions,
        context=context,
    )
    return CountOut(count=ended)


@router.post("/me/mfa/totp", response_model=TotpEnrolmentOut, summary="Start TOTP set-up")
async def start_totp(auth: EnrollingUser, db: DbSession, ring: Keyring) -> TotpEnrolmentOut:
    enrolment = await mfa_enrolment.start_totp_enrolment(db, ring, user=auth.user)
    return TotpEnrolmentOut(
        secret=enrolment.secret, otpauth_uri=enrolment.uri, qr_code=enrolment.qr_data_uri
    )


@router.post(
    "/me/mfa/totp/confirm",
    response_model=RecoveryCodesOut,
    summary="Confirm TOTP with a first code; returns recovery codes once",
)
async def confirm_totp(
    body: TotpConfirmIn, auth: EnrollingUser, db: DbSession, ring: Keyring, context: RequestCtx
) -> RecoveryCodesOut:
    codes = await mfa_enrolment.confirm_totp_enrolment(
        db, ring, user=auth.user, code=body.code, session_id=auth.session.id, context=context
    )
    return RecoveryCodesOut(recovery_codes=codes)


@router.get(
    "/me/sessions",
    response_model=list[SessionOut],
    summary="My sessions, with browser, OS, device type and network of each sign-in",
)
async def my_sessions(auth: SignedIn, db: DbSession) -> list[SessionOut]:
    rows = await devices.my_sessions(db, auth.user, auth.session.id)
    return [session_out(row) for row in rows]


@router.delete("/me/sessions/{session_id}", status_code=204, summary="End one of my sessions")
async def end_my_session(
    session_id: str, auth: SignedIn, db: DbSession, context: RequestCtx
) -> Response:
    await devices.end_my_session(db, auth.user, session_id, context)
    return Response(status_code=204)


@router.post(
    "/password-strength",
    response_model=StrengthOut,
    summary="Estimate a candidate password's strength (nothing is stored)",
)
async def password_strength(body: StrengthIn, settings: CurrentSettings) -> StrengthOut:
    context = PasswordContext(has_mfa=body.two_factor)
    # The verdict comes from the rule set that setting a password enforces.
    problems = await password_problems(body.password, context, settings)
    # zxcvbn can take a while on crafted input: keep it off the event loop.
    strength = await asyncio.to_thread(estimate_strength, body.password, context)
    return StrengthOut(
        score=strength.score,
        label=strength.label,
        feedback=strength.feedback,
        acceptable=not problems,
        problems=[PasswordProblemOut(code=p.code, message=p.message) for p in problems],
    )
