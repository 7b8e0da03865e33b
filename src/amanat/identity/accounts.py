"""Customer accounts (tenants) and the provider's own platform account."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.audit.service import record_event
from amanat.core.clock import utcnow
from amanat.core.errors import InvalidInput, NotFound
from amanat.core.ids import new_id
from amanat.identity.actors import Actor
from amanat.identity.models import CustomerAccount
from amanat.identity.roles import Permission

PLATFORM_ACCOUNT_NAME = "Platform staff"


async def platform_account(session: AsyncSession) -> CustomerAccount:
    """The provider's own account, where staff users live; created on first use."""
    row = await session.scalar(select(CustomerAccount).where(CustomerAccount.kind == "platform"))
    if row is None:
        row = CustomerAccount(
            id=new_id(),
            kind="platform",
            name=PLATFORM_ACCOUNT_NAME,
            status="active",
            members_need_mfa=True,
            created_at=utcnow(),
        )
        session.add(row)
        await session.flush()
    return row


def _account_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not 1 <= len(cleaned) <= 200:
        raise InvalidInput(
            "Account name must be 1 to 200 characters.",
            code="invalid_account_name",
            field="name",
        )
    return cleaned


async def create_customer_account(
    session: AsyncSession, actor: Actor, *, name: str, status: str = "active"
) -> CustomerAccount:
    """A platform admin opens an account for a customer organisation."""
    actor.require(Permission.MANAGE_CUSTOMER_ACCOUNTS)
    row = CustomerAccount(
        id=new_id(),
        kind="customer",
        name=_account_name(name),
        status=status,
        members_need_mfa=True,
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    await record_event(
        session,
        actor=actor.audit(),
        action="account.create",
        account_id=row.id,
        target_type="account",
        target_id=row.id,
    )
    return row


async def get_account_for(session: AsyncSession, actor: Actor, account_id: str) -> CustomerAccount:
    """An account the actor may see: its own, or any for platform admins."""
    row = await session.get(CustomerAccount, account_id)
    visible = row is not None and (
        actor.is_operator
        or actor.account_id == account_id
        or actor.can(Permission.MANAGE_CUSTOMER_ACCOUNTS)
    )
    if not visible or row is None:
        raise NotFound("No such account.", code="account_not_found")
    return row


async def list_customer_accounts(session: AsyncSession, actor: Actor) -> list[CustomerAccount]:
    actor.require(Permission.MANAGE_CUSTOMER_ACCOUNTS)
    rows = await session.scalars(
        select(CustomerAccount)
        .where(CustomerAccount.kind == "customer")
        .order_by(CustomerAccount.created_at)
    )
    return list(rows)


async def set_members_need_mfa(
    session: AsyncSession, actor: Actor, account_id: str, required: bool
) -> CustomerAccount:
    """An account admin decides whether members must use a second factor (on by default)."""
    actor.require(Permission.MANAGE_ACCOUNT_SETTINGS)
    account = await get_account_for(session, actor, account_id)
    if actor.account_id != account.id and not actor.is_operator:
        raise NotFound("No such account.", code="account_not_found")
    account.members_need_mfa = required
    await record_event(
        session,
        actor=actor.audit(),
        action="account.mfa_policy",
        account_id=account.id,
        target_type="account",
        target_id=account.id,
        details={"members_need_mfa": required},
    )
    await session.flush()
    return account
