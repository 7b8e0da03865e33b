"""Users: who they are, and which of them an actor may see and manage.

Admins create users by invitation (`amanat.identity.invitations`) and supervise them
(`amanat.identity.user_management`): policy §4, "Admin create users and supervise them". Every
query here is scoped to the actor: a user out of the actor's reach is "not found" (no IDOR)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.access.actors import Actor
from amanat.access.roles import ACCOUNT_ROLES, PLATFORM_ROLES, Permission, Role
from amanat.core.crypto import MasterKeyring
from amanat.core.errors import Forbidden, InvalidInput, NotFound
from amanat.identity.models import CustomerAccount, User
from amanat.people.personal_data import PersonData, read_people_by_id, read_person

USERNAME_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{1,62}[a-z0-9])$")


@dataclass(frozen=True)
class UserSummary:
    id: str
    account_id: str
    username: str
    role: str
    status: str
    masked_name: str
    masked_email: str
    mfa_enabled: bool
    last_signin_at: datetime | None
    created_at: datetime


def normalize_username(value: str) -> str:
    username = value.strip().lower()
    if not USERNAME_PATTERN.match(username):
        raise InvalidInput(
            "Usernames are 3 to 64 characters: letters a–z, digits, dot, dash, underscore; "
            "starting and ending with a letter or digit.",
            code="invalid_username",
            field="username",
        )
    return username


def may_assign_role(actor: Actor, account: CustomerAccount, role: Role) -> bool:
    """Whether the actor may give this role to a user of the account."""
    if actor.is_operator:
        return True
    if account.kind == "platform":
        return role in PLATFORM_ROLES and actor.can(Permission.MANAGE_STAFF)
    if role not in ACCOUNT_ROLES:
        return False
    if actor.can(Permission.MANAGE_CUSTOMER_ACCOUNTS):
        return True  # a platform admin seeds a customer account's first owner or admins
    if actor.account_id != account.id or not actor.can(Permission.MANAGE_USERS):
        return False
    return role == Role.MEMBER or actor.can(Permission.GRANT_ADMIN)


async def get_user_for(session: AsyncSession, actor: Actor, user_id: str) -> User:
    """A user the actor supervises: same account and user-management rights, or platform staff
    management for the platform account. Anything else is "not found" (no IDOR)."""
    user = await session.get(User, user_id)
    if user is None or user.status == "erased" or not _supervises(actor, user):
        raise NotFound("No such user.", code="user_not_found")
    return user


def _supervises(actor: Actor, user: User) -> bool:
    if actor.is_operator:
        return True
    if actor.account_id == user.account_id:
        return actor.can(Permission.SUPERVISE_USERS) or (
            actor.is_platform_staff and actor.can(Permission.MANAGE_STAFF)
        )
    return False


async def list_users(
    session: AsyncSession,
    ring: MasterKeyring,
    actor: Actor,
    *,
    status: str | None = None,
    username_prefix: str | None = None,
    role: Role | None = None,
    limit: int = 200,
) -> list[UserSummary]:
    """The actor's own account's users, masked, newest first; filtered by status, role and
    the beginning of the username when given."""
    if not (actor.can(Permission.SUPERVISE_USERS) or actor.can(Permission.MANAGE_STAFF)):
        raise Forbidden("You are not allowed to list users.", code="forbidden")
    statement = select(User).where(User.account_id == actor.account_id, User.status != "erased")
    if status:
        statement = statement.where(User.status == status)
    if role is not None:
        statement = statement.where(User.role == role)
    if username_prefix:
        prefix = username_prefix.strip().lower().replace("%", "").replace("_", "\\_")
        statement = statement.where(User.username.like(f"{prefix}%", escape="\\"))
    rows = (await session.scalars(statement.order_by(User.created_at.desc()).limit(limit))).all()
    people = await read_people_by_id(
        session, ring, [row.person_id for row in rows if row.person_id is not None]
    )
    return [_summary(row, people.get(row.person_id) if row.person_id else None) for row in rows]


async def summarize(session: AsyncSession, ring: MasterKeyring, user: User) -> UserSummary:
    person = await read_person(session, ring, user.person_id) if user.person_id else None
    return _summary(user, person)


def _summary(user: User, person: PersonData | None) -> UserSummary:
    masked = person.masked() if person is not None else {"full_name": "", "email": ""}
    return UserSummary(
        id=user.id,
        account_id=user.account_id,
        username=user.username,
        role=user.role.value,
        status=user.status,
        masked_name=masked["full_name"],
        masked_email=masked["email"],
        mfa_enabled=user.mfa_enabled_at is not None,
        last_signin_at=user.last_signin_at,
        created_at=user.created_at,
    )


async def find_user_in_any_account(session: AsyncSession, user_id: str) -> User:
    """A user of any customer account, for staff whose role reaches every account (the caller
    decides who may ask); an erased user is not found."""
    user = await session.get(User, user_id)
    if user is None or user.status == "erased":
        raise NotFound("No such user.", code="user_not_found")
    return user


async def ids_of_users_holding(session: AsyncSession, person_ids: Sequence[str]) -> list[str]:
    """The ids of the users who hold these persons, in any account: the caller narrows them to
    the ones its actor may see (`get_user_for`)."""
    if not person_ids:
        return []
    rows = await session.scalars(select(User.id).where(User.person_id.in_(list(person_ids))))
    return list(rows.all())
