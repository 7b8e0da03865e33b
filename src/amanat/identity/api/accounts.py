"""Customer accounts over JSON, for platform admins: open, list, suspend, reactivate, settings."""

from __future__ import annotations

from fastapi import APIRouter

from amanat.identity import accounts
from amanat.identity.models import CustomerAccount
from amanat.identity.schemas import (
    AccountCreateIn,
    AccountOut,
    AccountReactivateIn,
    AccountSettingsIn,
    AccountSuspendIn,
)
from amanat.web.auth import (
    Keyring,
    PlatformAdmin,
    UserSupervisor,
)
from amanat.web.deps import DbSession

router = APIRouter(prefix="/api/v1", tags=["identity"])


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
