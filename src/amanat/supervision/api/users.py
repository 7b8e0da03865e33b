"""The admin's JSON doors to the users of their own account: the masked list, one user, an
invitation, and each change of a user's state (`amanat.identity.users` decides)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from amanat.access.roles import Role
from amanat.identity import invitation_upkeep, invitations, user_management, users
from amanat.identity.api_tokens import ApiScope
from amanat.identity.schemas import (
    CountOut,
    RoleChangeIn,
    UserCreateIn,
    UserOut,
)
from amanat.people.personal_data import read_person
from amanat.web.auth import (
    Keyring,
    UserSupervisor,
    require_scope,
)
from amanat.web.deps import CurrentSettings, DbSession

if TYPE_CHECKING:  # a domain object identity's services hand us; its table is not ours
    from amanat.identity.models import User


router = APIRouter(prefix="/api/v1", tags=["identity"])


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
    user, _token = await invitations.invite_user(
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
    await user_management.suspend_user(db, ring, auth.actor, user_id)
    return await _user_out(db, ring, user_id, auth)


@router.post(
    "/users/{user_id}/reactivate",
    response_model=UserOut,
    summary="Reactivate a user",
    dependencies=[require_scope(ApiScope.USERS_WRITE)],
)
async def reactivate(user_id: str, auth: UserSupervisor, db: DbSession, ring: Keyring) -> UserOut:
    await user_management.reactivate_user(db, auth.actor, user_id)
    return await _user_out(db, ring, user_id, auth)


@router.post(
    "/users/{user_id}/revoke-sessions",
    response_model=CountOut,
    summary="End every session of a user",
    dependencies=[require_scope(ApiScope.USERS_WRITE)],
)
async def revoke_sessions(user_id: str, auth: UserSupervisor, db: DbSession) -> CountOut:
    return CountOut(count=await user_management.revoke_user_sessions(db, auth.actor, user_id))


@router.post(
    "/users/{user_id}/force-password-change",
    response_model=UserOut,
    summary="Make a user choose a new password at next sign-in",
    dependencies=[require_scope(ApiScope.USERS_WRITE)],
)
async def force_password_change(
    user_id: str, auth: UserSupervisor, db: DbSession, ring: Keyring
) -> UserOut:
    await user_management.force_password_change(db, ring, auth.actor, user_id)
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
    await user_management.change_role(db, auth.actor, user_id, body.role)
    return await _user_out(db, ring, user_id, auth)


@router.post(
    "/users/{user_id}/unlock",
    response_model=UserOut,
    summary="Lift a sign-in lock before it runs out",
    dependencies=[require_scope(ApiScope.USERS_WRITE)],
)
async def unlock(user_id: str, auth: UserSupervisor, db: DbSession, ring: Keyring) -> UserOut:
    await user_management.unlock_user(db, ring, auth.actor, user_id)
    return await _user_out(db, ring, user_id, auth)


@router.post(
    "/users/{user_id}/reset-mfa",
    response_model=UserOut,
    summary="Reset a user's second factor (audited)",
    dependencies=[require_scope(ApiScope.USERS_WRITE)],
)
async def reset_mfa(user_id: str, auth: UserSupervisor, db: DbSession, ring: Keyring) -> UserOut:
    await user_management.reset_user_mfa(db, ring, auth.actor, user_id)
    return await _user_out(db, ring, user_id, auth)


@router.delete(
    "/users/{user_id}",
    status_code=204,
    summary="Remove a user",
    dependencies=[require_scope(ApiScope.USERS_WRITE)],
)
async def remove(user_id: str, auth: UserSupervisor, db: DbSession) -> Response:
    await user_management.remove_user(db, auth.actor, user_id)
    return Response(status_code=204)


class InvitationOut(BaseModel):
    """An invitation sent (again): to whom, masked, and until when its link works."""

    user_id: str
    username: str
    email: str
    expires_at: datetime


@router.post(
    "/users/{user_id}/invitation/resend",
    response_model=InvitationOut,
    summary="Send a pending invitation again (a new link; the old one stops working)",
    dependencies=[require_scope(ApiScope.USERS_WRITE)],
)
async def resend_invitation(
    user_id: str, auth: UserSupervisor, db: DbSession, ring: Keyring, settings: CurrentSettings
) -> InvitationOut:
    sent = await invitation_upkeep.resend_invitation(db, ring, settings, auth.actor, user_id)
    return InvitationOut(
        user_id=sent.user_id,
        username=sent.username,
        email=sent.masked_email,
        expires_at=sent.expires_at,
    )


@router.delete(
    "/users/{user_id}/invitation",
    status_code=204,
    summary="Withdraw a pending invitation (the invited user and their data go)",
    dependencies=[require_scope(ApiScope.USERS_WRITE)],
)
async def cancel_invitation(user_id: str, auth: UserSupervisor, db: DbSession) -> Response:
    await invitation_upkeep.cancel_invitation(db, auth.actor, user_id)
    return Response(status_code=204)
