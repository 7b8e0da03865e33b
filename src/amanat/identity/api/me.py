"""The signed-in person's own credentials over JSON: who I am, my password, my second factor,
my sessions, and the strength meter."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response

from amanat.activity.context import RequestCtx
from amanat.identity import devices, mfa_enrolment, mfa_upkeep, password_change, preferences
from amanat.identity.api_tokens import ApiScope
from amanat.identity.credentials import password_problems
from amanat.identity.password_policy import PasswordContext, estimate_strength
from amanat.identity.schemas import (
    CountOut,
    MeOut,
    MePatchIn,
    MfaStatusOut,
    PasswordChangeIn,
    PasswordProblemOut,
    ReauthenticationIn,
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
    Authenticated,
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
    return await _me_out(auth, db, ring)


async def _me_out(auth: Authenticated, db: DbSession, ring: Keyring) -> MeOut:
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
        time_zone=user.time_zone or preferences.DEFAULT_TIME_ZONE,
    )


@router.patch(
    "/me",
    response_model=MeOut,
    summary="Change my preferences (time zone; null sets the default, Asia/Karachi)",
)
async def patch_me(body: MePatchIn, auth: SignedIn, db: DbSession, ring: Keyring) -> MeOut:
    if "time_zone" in body.model_fields_set:
        await preferences.set_time_zone(db, auth.user, body.time_zone)
    return await _me_out(auth, db, ring)


@router.get("/me/mfa", response_model=MfaStatusOut, summary="My second factor and codes left")
async def my_mfa(auth: SignedIn, db: DbSession) -> MfaStatusOut:
    return MfaStatusOut(
        enabled=auth.user.mfa_enabled_at is not None,
        enabled_at=auth.user.mfa_enabled_at,
        recovery_codes_left=await mfa_upkeep.recovery_codes_left(db, auth.user),
    )


@router.post(
    "/me/mfa/recovery-codes",
    response_model=RecoveryCodesOut,
    summary="Make new recovery codes (password and a current code); the old ones stop working",
)
async def regenerate_recovery_codes(
    body: ReauthenticationIn,
    auth: SignedIn,
    db: DbSession,
    ring: Keyring,
    settings: CurrentSettings,
    context: RequestCtx,
) -> RecoveryCodesOut:
    codes = await mfa_upkeep.regenerate_recovery_codes(
        db,
        ring,
        settings,
        user=auth.user,
        password=body.current_password,
        code=body.code,
        session_id=auth.session.id,
        context=context,
    )
    return RecoveryCodesOut(recovery_codes=codes)


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
