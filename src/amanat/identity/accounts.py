"""Customer accounts (tenants) and the provider's own platform account.

Platform admins suspend and reactivate customer accounts. A suspended account is out of use at
once: every session of its users ends, their API tokens are revoked, every active user of it is
mailed, and sign-in, invitation, reset, contact-confirmation and sign-up verification links of
its users are refused while it stays suspended (`account_in_use`). Reactivation lets them sign in
again; nothing ended comes back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.access.actors import Actor
from amanat.access.roles import Permission, Role
from amanat.audit.records import record_event
from amanat.core.clock import utcnow
from amanat.core.crypto import MasterKeyring
from amanat.core.db import keep_loaded
from amanat.core.errors import Conflict, InvalidInput, NotFound
from amanat.core.ids import new_id
from amanat.identity.mail import tell_users
from amanat.identity.models import (
    ACCOUNT_STATUSES_IN_USE,
    ApiToken,
    CustomerAccount,
    OneTimeToken,
    User,
    UserSession,
)
from amanat.identity.users import UserSummary
from amanat.people.personal_data import PersonData, read_people_by_id

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


def clean_account_name(name: str) -> str:
    """The organisation's name with its spaces tidied; refused unless 1 to 200 characters."""
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
        name=clean_account_name(name),
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
    """Every customer account, oldest first, with its status (platform admins only)."""
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


_Reason = TypeVar("_Reason", bound=StrEnum)


class SuspensionReason(StrEnum):
    """Why a platform admin suspends a customer account (kept in the audit record)."""

    NON_PAYMENT = "non_payment"
    ABUSE = "abuse"
    SECURITY_INCIDENT = "security_incident"
    CUSTOMER_REQUEST = "customer_request"
    LEGAL_ORDER = "legal_order"
    OTHER = "other"


class ReactivationReason(StrEnum):
    """Why a platform admin lifts a suspension (kept in the audit record)."""

    ISSUE_RESOLVED = "issue_resolved"
    PAYMENT_RECEIVED = "payment_received"
    CUSTOMER_REQUEST = "customer_request"
    SUSPENDED_IN_ERROR = "suspended_in_error"
    OTHER = "other"


def _reason(kind: type[_Reason], value: str) -> _Reason:
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(member.value for member in kind)
        raise InvalidInput(
            f"Give one of these reasons: {choices}.", code="invalid_reason", field="reason"
        ) from None


# Built once: every sign-in runs it, and building a statement costs more than running it.
_ACCOUNT_BY_ID = select(CustomerAccount).where(CustomerAccount.id == bindparam("account_id"))


async def account_in_use(session: AsyncSession, account_id: str | None) -> bool:
    """Whether the users of this account may sign in and use their links (not suspended).

    Loads the whole row: later checks in the same request (MFA policy) find it in the session.
    """
    account = await session.scalar(_ACCOUNT_BY_ID, {"account_id": account_id or ""})
    if account is None:
        return False
    keep_loaded(session, account)
    return account.status in ACCOUNT_STATUSES_IN_USE


async def _customer_account_to_change(
    session: AsyncSession, actor: Actor, account_id: str
) -> CustomerAccount:
    actor.require(Permission.MANAGE_CUSTOMER_ACCOUNTS)
    # Locked, so two admins acting at once take turns.
    row = await session.scalar(
        select(CustomerAccount).where(CustomerAccount.id == account_id[:36]).with_for_update()
    )
    if row is None or row.kind != "customer":
        # The platform account is not a customer account: staff are managed as users.
        raise NotFound("No such customer account.", code="account_not_found")
    return row


async def suspend_customer_account(
    session: AsyncSession, ring: MasterKeyring, actor: Actor, account_id: str, *, reason: str
) -> CustomerAccount:
    """Suspend a customer account: its users' sessions end and API tokens are revoked at once.

    Every active user of the account is mailed (not only its owners and admins: each of them
    loses access, and each should hear of it from us rather than from a refused sign-in). The
    mail says what happened and when, not why: the reason stays in the audit record."""
    why = _reason(SuspensionReason, reason)
    account = await _customer_account_to_change(session, actor, account_id)
    if account.status == "suspended":
        raise Conflict("This account is already suspended.", code="already_suspended")
    previous = account.status
    account.status = "suspended"
    await session.flush()
    ended = await session.execute(
        delete(UserSession)
        .where(UserSession.account_id == account.id)
        .execution_options(synchronize_session=False)
    )
    revoked = await session.execute(
        update(ApiToken)
        .where(ApiToken.account_id == account.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    await record_event(
        session,
        actor=actor.audit(),
        action="account.suspend",
        account_id=account.id,
        target_type="account",
        target_id=account.id,
        details={
            "reason": why.value,
            "previous_status": previous,
            "sessions_ended": int(getattr(ended, "rowcount", 0) or 0),
            "api_tokens_revoked": int(getattr(revoked, "rowcount", 0) or 0),
        },
    )
    members = await session.scalars(
        select(User).where(User.account_id == account.id, User.status == "active")
    )
    await tell_users(session, ring, list(members), template="account_suspended")
    await session.flush()
    return account


async def _status_after_suspension(session: AsyncSession, account: CustomerAccount) -> str:
    # A sign-up whose owner has not confirmed the address yet goes back to waiting for it.
    unconfirmed_owner = await session.scalar(
        select(OneTimeToken.id)
        .join(User, User.id == OneTimeToken.user_id)
        .where(
            OneTimeToken.account_id == account.id,
            OneTimeToken.purpose == "email_verification",
            User.status == "invited",
        )
        .limit(1)
    )
    return "pending_verification" if unconfirmed_owner is not None else "active"


async def reactivate_customer_account(
    session: AsyncSession, actor: Actor, account_id: str, *, reason: str
) -> CustomerAccount:
    """Lift a suspension: its users may sign in again (ended sessions and tokens stay ended)."""
    why = _reason(ReactivationReason, reason)
    account = await _customer_account_to_change(session, actor, account_id)
    if account.status != "suspended":
        raise Conflict("Only a suspended account can be reactivated.", code="not_suspended")
    account.status = await _status_after_suspension(session, account)
    await record_event(
        session,
        actor=actor.audit(),
        action="account.reactivate",
        account_id=account.id,
        target_type="account",
        target_id=account.id,
        details={"reason": why.value, "status": account.status},
    )
    await session.flush()
    return account


# A platform admin's page of one account lists this many users at most; the count is exact.
OVERVIEW_USER_LIMIT = 500


@dataclass(frozen=True)
class PendingInvitation:
    user: UserSummary
    sent_at: datetime
    expires_at: datetime
    expired: bool


@dataclass(frozen=True)
class AccountOverview:
    """What a platform admin sees of one customer account: no personal data but masked."""

    account: CustomerAccount
    owner: UserSummary | None
    user_count: int
    users: list[UserSummary]
    invitations: list[PendingInvitation]


async def account_overview(
    session: AsyncSession, ring: MasterKeyring, actor: Actor, account_id: str
) -> AccountOverview:
    """One customer account for a platform admin: its owner, users, pending invitations."""
    actor.require(Permission.MANAGE_CUSTOMER_ACCOUNTS)
    account = await session.get(CustomerAccount, account_id[:36])
    if account is None or account.kind != "customer":
        raise NotFound("No such customer account.", code="account_not_found")
    present = (User.account_id == account.id, User.status != "erased")
    user_count = await session.scalar(select(func.count()).select_from(User).where(*present))
    rows = list(
        await session.scalars(
            select(User).where(*present).order_by(User.created_at).limit(OVERVIEW_USER_LIMIT)
        )
    )
    invites = (
        await session.execute(
            select(OneTimeToken.user_id, OneTimeToken.created_at, OneTimeToken.expires_at)
            .join(User, User.id == OneTimeToken.user_id)
            .where(
                OneTimeToken.account_id == account.id,
                OneTimeToken.purpose == "invite",
                OneTimeToken.used_at.is_(None),
                User.status == "invited",
            )
            .order_by(OneTimeToken.expires_at)
        )
    ).all()
    people = await read_people_by_id(
        session, ring, [row.person_id for row in rows if row.person_id is not None]
    )
    summaries = {
        row.id: _masked_summary(row, people.get(row.person_id) if row.person_id else None)
        for row in rows
    }
    now = utcnow()
    invitations = [
        PendingInvitation(summaries[user_id], sent_at, expires_at, expires_at <= now)
        for user_id, sent_at, expires_at in invites
        if user_id in summaries
    ]
    owners = [row for row in summaries.values() if row.role == Role.OWNER.value]
    owner = next((row for row in owners if row.status == "active"), owners[0] if owners else None)
    return AccountOverview(
        account, owner, int(user_count or 0), list(summaries.values()), invitations
    )


def _masked_summary(user: User, person: PersonData | None) -> UserSummary:
    shown = person.masked() if person is not None else {"full_name": "", "email": ""}
    return UserSummary(
        id=user.id,
        account_id=user.account_id,
        username=user.username,
        role=user.role.value,
        status=user.status,
        masked_name=shown["full_name"],
        masked_email=shown["email"],
        mfa_enabled=user.mfa_enabled_at is not None,
        last_signin_at=user.last_signin_at,
        created_at=user.created_at,
    )
