"""Customer accounts over JSON, for platform admins: open, list, read one, suspend, reactivate;
and the second-factor setting for an account's admins."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from fastapi import APIRouter
from pydantic import BaseModel

from amanat.identity import accounts
from amanat.identity.schemas import (
    AccountCreateIn,
    AccountOut,
    AccountReactivateIn,
    AccountSettingsIn,
    AccountSuspendIn,
)
from amanat.identity.users import UserSummary
from amanat.web.auth import (
    Keyring,
    PlatformAdmin,
    UserSupervisor,
)
from amanat.web.deps import DbSession

if TYPE_CHECKING:  # a row handed over by identity's services, never queried here
    from amanat.identity.models import CustomerAccount

router = APIRouter(prefix="/api/v1", tags=["identity"])


class AccountUserOut(BaseModel):
    """A user of the account as a platform admin sees it: masked, never in clear."""

    id: str
    username: str
    masked_email: str
    role: str
    status: str
    mfa_enabled: bool
    last_signin_at: datetime | None
    created_at: datetime


class AccountInvitationOut(BaseModel):
    user: AccountUserOut
    sent_at: datetime
    expires_at: datetime
    expired: bool


class AccountSummaryOut(BaseModel):
    account: AccountOut
    owner: AccountUserOut | None
    user_count: int
    users: list[AccountUserOut]
    invitations: list[AccountInvitationOut]


def _user_out(row: UserSummary) -> AccountUserOut:
    return AccountUserOut(
        id=row.id,
        username=row.username,
        masked_email=row.masked_email,
        role=row.role,
        status=row.status,
        mfa_enabled=row.mfa_enabled,
        last_signin_at=row.last_signin_at,
        created_at=row.created_at,
    )


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


@router.get(
    "/accounts/{account_id}",
    response_model=AccountSummaryOut,
    summary="One customer account: owner, users and pending invitations (masked)",
)
async def account_summary(
    account_id: str, auth: PlatformAdmin, db: DbSession, ring: Keyring
) -> AccountSummaryOut:
    overview = await accounts.account_overview(db, ring, auth.actor, account_id)
    return AccountSummaryOut(
        account=_account_out(overview.account),
        owner=_user_out(overview.owner) if overview.owner else None,
        user_count=overview.user_count,
        users=[_user_out(row) for row in overview.users],
        invitations=[
            AccountInvitationOut(
                user=_user_out(row.user),
                sent_at=row.sent_at,
                expires_at=row.expires_at,
                expired=row.expired,
            )
            for row in overview.invitations
        ],
    )


@router.post(
    "/accounts/{account_id}/suspend",
    response_model=AccountOut,
    summary="Suspend a customer account: its users' sessions end, their API tokens are revoked",
)
async def suspend_account(
    account_id: str, body: AccountSuspendIn, auth: PlatformAdmin, db: DbSession, ring: Keyring
) -> AccountOut:
    row = await accounts.suspend_customer_account(
        db, ring, auth.actor, account_id, reason=body.reason.value
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
