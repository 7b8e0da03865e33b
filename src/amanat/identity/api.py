"""Identity JSON API under /api/v1: translate HTTP to service calls and back, nothing more."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from amanat.access.roles import Role
from amanat.activity.context import RequestCtx, set_device_cookie
from amanat.identity import accounts, devices, signin, users
from amanat.identity.api_tokens import ApiScope
from amanat.identity.models import CustomerAccount, User
from amanat.identity.password_policy import PasswordContext, estimate_strength
from amanat.identity.schemas import (
    AccountCreateIn,
    AccountOut,
    AccountReactivateIn,
    AccountSettingsIn,
    AccountSuspendIn,
    CountOut,
    InviteAcceptIn,
    MeOut,
    PasswordChangeIn,
    RecoveryCodesOut,
    RoleChangeIn,
    SecondFactorIn,
    SessionOut,
    SigninIn,
    SigninOut,
    StrengthIn,
    StrengthOut,
    TotpConfirmIn,
    TotpEnrolmentOut,
    UserCreateIn,
    UserOut,
)
from amanat.people.service import read_person
from amanat.web.auth import (
    AnySession,
    EnrollingUser,
    Keyring,
    PlatformAdmin,
    SignedIn,
    UserSupervisor,
    clear_session_cookie,
    csrf_token_for,
    require_scope,
    set_session_cookie,
)
from amanat.web.deps import CurrentSettings, DbSession

router = APIRouter(prefix="/api/v1", tags=["identity"])


def _address(request: Request) -> str | None:
    address = request.scope.get("state", {}).get("client_address")
    return str(address) if address is not None else None


def session_out(details: devices.SessionDetails) -> SessionOut:
    return SessionOut(
        id=details.id,
        current=details.current,
        created_at=details.first_seen_at,
        last_seen_at=details.last_seen_at,
        expires_at=details.expires_at,
        first_seen_at=details.first_seen_at,
        browser=details.browser,
        browser_version=details.browser_version,
        os=details.os,
        os_version=details.os_version,
        device_type=details.device_type,
        ip_network=details.network,
    )


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
        client_address=_address(request),
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
        client_address=_address(request),
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
    ended = await signin.change_password(
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
    enrolment = await signin.start_totp_enrolment(db, ring, user=auth.user)
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
    codes = await signin.confirm_totp_enrolment(
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
async def password_strength(body: StrengthIn) -> StrengthOut:
    # zxcvbn can take a while on crafted input: keep it off the event loop.
    strength = await asyncio.to_thread(estimate_strength, body.password, PasswordContext())
    return StrengthOut(score=strength.score, label=strength.label, feedback=strength.feedback)


@router.post(
    "/invites/accept",
    response_model=CountOut,
    summary="Set the first password through an invitation",
)
async def accept_invite(
    body: InviteAcceptIn, db: DbSession, ring: Keyring, settings: CurrentSettings
) -> CountOut:
    await signin.accept_invite(db, ring, settings, token=body.token, password=body.password)
    return CountOut(count=1)


async def _user_out(db: DbSession, ring: Keyring, user_id: str, auth: UserSupervisor) -> UserOut:
    user = await users.get_user_for(db, auth.actor, user_id)
    return _summary_out(await users.summarize(db, ring, user), await _masked(db, ring, user))


async def _masked(db: DbSession, ring: Keyring, user: User) -> dict[str, str]:
    return (await read_person(db, ring, user.person_id)).masked() if user.person_id else {}


def _summary_out(summary: users.UserSummary, masked: Mapping[str, str] | None = None) -> UserOut:
    masked = masked or {}
    return UserOut(
        id=summary.id,
        account_id=summary.account_id,
        username=summary.username,
        role=summary.role,
        status=summary.status,
        full_name=summary.masked_name,
        email=summary.masked_email,
        mfa_enabled=summary.mfa_enabled,
        last_signin_at=summary.last_signin_at,
        created_at=summary.created_at,
        phone=masked.get("phone"),
        cnic=masked.get("cnic"),
        city=masked.get("address"),
    )


@router.get(
    "/users",
    response_model=list[UserOut],
    summary="Users of my account (masked)",
    dependencies=[require_scope(ApiScope.USERS_READ)],
)
async def list_users(
    auth: UserSupervisor,
    db: DbSession,
    ring: Keyring,
    status: Annotated[str | None, Query(pattern="^(invited|active|suspended)$")] = None,
    username: Annotated[str | None, Query(max_length=64)] = None,
    role: Annotated[Role | None, Query()] = None,
) -> list[UserOut]:
    rows = await users.list_users(
        db, ring, auth.actor, status=status, username_prefix=username, role=role
    )
    return [
        UserOut(
            id=s.id,
            account_id=s.account_id,
            username=s.username,
            role=s.role,
            status=s.status,
            full_name=s.masked_name,
            email=s.masked_email,
            mfa_enabled=s.mfa_enabled,
            last_signin_at=s.last_signin_at,
            created_at=s.created_at,
        )
        for s in rows
    ]


@router.post(
    "/users",
    response_model=UserOut,
    status_code=201,
    summary="Invite a user into my account",
    dependencies=[require_scope(ApiScope.USERS_WRITE)],
)
async def create_user(
    body: UserCreateIn,
    auth: UserSupervisor,
    db: DbSession,
    ring: Keyring,
    settings: CurrentSettings,
) -> UserOut:
    user, _token = await users.invite_user(
        db,
        ring,
        settings,
        auth.actor,
        account_id=body.account_id or auth.user.account_id,
        username=body.username,
        full_name=body.full_name,
        email=body.email,
        role=body.role,
        phone=body.phone,
        cnic=body.cnic,
        address=body.address_parts(),
    )
    # Not through get_user_for: a platform admin seeding a customer's owner does not
    # supervise that account afterwards, but sees (masked) whom they just created.
    return _summary_out(await users.summarize(db, ring, user), await _masked(db, ring, user))


@router.get(
    "/users/{user_id}",
    response_model=UserOut,
    summary="One user (masked)",
    dependencies=[require_scope(ApiScope.USERS_READ)],
)
async def get_user(user_id: str, auth: UserSupervisor, db: DbSession, ring: Keyring) -> UserOut:
    return await _user_out(db, ring, user_id, auth)


@router.post(
    "/users/{user_id}/suspend",
    response_model=UserOut,
    summary="Suspend a user",
    dependencies=[require_scope(ApiScope.USERS_WRITE)],
)
async def suspend(user_id: str, auth: UserSupervisor, db: DbSession, ring: Keyring) -> UserOut:
    await users.suspend_user(db, auth.actor, user_id)
    return await _user_out(db, ring, user_id, auth)


@router.post(
    "/users/{user_id}/reactivate",
    response_model=UserOut,
    summary="Reactivate a user",
    dependencies=[require_scope(ApiScope.USERS_WRITE)],
)
async def reactivate(user_id: str, auth: UserSupervisor, db: DbSession, ring: Keyring) -> UserOut:
    await users.reactivate_user(db, auth.actor, user_id)
    return await _user_out(db, ring, user_id, auth)


@router.post(
    "/users/{user_id}/revoke-sessions",
    response_model=CountOut,
    summary="End every session of a user",
    dependencies=[require_scope(ApiScope.USERS_WRITE)],
)
async def revoke_sessions(user_id: str, auth: UserSupervisor, db: DbSession) -> CountOut:
    return CountOut(count=await users.revoke_user_sessions(db, auth.actor, user_id))


@router.post(
    "/users/{user_id}/force-password-change",
    response_model=UserOut,
    summary="Make a user choose a new password at next sign-in",
    dependencies=[require_scope(ApiScope.USERS_WRITE)],
)
async def force_password_change(
    user_id: str, auth: UserSupervisor, db: DbSession, ring: Keyring
) -> UserOut:
    await users.force_password_change(db, auth.actor, user_id)
    return await _user_out(db, ring, user_id, auth)


@router.put(
    "/users/{user_id}/role",
    response_model=UserOut,
    summary="Give a user another role (their sessions end)",
    dependencies=[require_scope(ApiScope.USERS_WRITE)],
)
async def change_role(
    user_id: str, body: RoleChangeIn, auth: UserSupervisor, db: DbSession, ring: Keyring
) -> UserOut:
    await users.change_role(db, auth.actor, user_id, body.role)
    return await _user_out(db, ring, user_id, auth)


@router.post(
    "/users/{user_id}/unlock",
    response_model=UserOut,
    summary="Lift a sign-in lock before it runs out",
    dependencies=[require_scope(ApiScope.USERS_WRITE)],
)
async def unlock(user_id: str, auth: UserSupervisor, db: DbSession, ring: Keyring) -> UserOut:
    await users.unlock_user(db, ring, auth.actor, user_id)
    return await _user_out(db, ring, user_id, auth)


@router.post(
    "/users/{user_id}/reset-mfa",
    response_model=UserOut,
    summary="Reset a user's second factor (audited)",
    dependencies=[require_scope(ApiScope.USERS_WRITE)],
)
async def reset_mfa(user_id: str, auth: UserSupervisor, db: DbSession, ring: Keyring) -> UserOut:
    await users.reset_user_mfa(db, auth.actor, user_id)
    return await _user_out(db, ring, user_id, auth)


@router.delete(
    "/users/{user_id}",
    status_code=204,
    summary="Remove a user",
    dependencies=[require_scope(ApiScope.USERS_WRITE)],
)
async def remove(user_id: str, auth: UserSupervisor, db: DbSession) -> Response:
    await users.remove_user(db, auth.actor, user_id)
    return Response(status_code=204)


def _account_out(row: CustomerAccount) -> AccountOut:
    return AccountOut(
        id=row.id,
        kind=row.kind,
        name=row.name,
        status=row.status,
        members_need_mfa=row.members_need_mfa,
        created_at=row.created_at,
    )


@router.get("/accounts", response_model=list[AccountOut], summary="Customer accounts")
async def list_accounts(auth: PlatformAdmin, db: DbSession) -> list[AccountOut]:
    return [_account_out(row) for row in await accounts.list_customer_accounts(db, auth.actor)]


@router.post(
    "/accounts", response_model=AccountOut, status_code=201, summary="Open a customer account"
)
async def create_account(body: AccountCreateIn, auth: PlatformAdmin, db: DbSession) -> AccountOut:
    return _account_out(await accounts.create_customer_account(db, auth.actor, name=body.name))


@router.post(
    "/accounts/{account_id}/suspend",
    response_model=AccountOut,
    summary="Suspend a customer account: its users' sessions end, their API tokens are revoked",
)
async def suspend_account(
    account_id: str, body: AccountSuspendIn, auth: PlatformAdmin, db: DbSession
) -> AccountOut:
    row = await accounts.suspend_customer_account(
        db, auth.actor, account_id, reason=body.reason.value
    )
    return _account_out(row)


@router.post(
    "/accounts/{account_id}/reactivate",
    response_model=AccountOut,
    summary="Reactivate a suspended customer account: its users may sign in again",
)
async def reactivate_account(
    account_id: str, body: AccountReactivateIn, auth: PlatformAdmin, db: DbSession
) -> AccountOut:
    row = await accounts.reactivate_customer_account(
        db, auth.actor, account_id, reason=body.reason.value
    )
    return _account_out(row)


@router.put(
    "/accounts/{account_id}/settings",
    response_model=AccountOut,
    summary="Account settings (second factor for members)",
)
async def account_settings(
    account_id: str, body: AccountSettingsIn, auth: UserSupervisor, db: DbSession
) -> AccountOut:
    row = await accounts.set_members_need_mfa(db, auth.actor, account_id, body.members_need_mfa)
    return _account_out(row)
