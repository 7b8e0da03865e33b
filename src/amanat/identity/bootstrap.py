"""The first platform administrator: created by the operator, who gets a one-time link.

There are no default accounts or passwords (ASVS V6.3.2): the link is the only way in.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.access.actors import OPERATOR
from amanat.access.roles import Role
from amanat.audit.records import record_event
from amanat.core.clock import utcnow
from amanat.core.crypto import MasterKeyring
from amanat.core.ids import new_id
from amanat.core.settings import Settings
from amanat.identity.accounts import platform_account
from amanat.identity.invitations import invite_link, invite_user
from amanat.identity.models import User
from amanat.identity.tokens import issue_one_time_token

FIRST_ADMIN_USERNAME = "admin"


async def create_platform_admin(
    session: AsyncSession,
    ring: MasterKeyring,
    settings: Settings,
    *,
    username: str,
    email: str,
    full_name: str,
    phone: str | None = None,
    cnic: str | None = None,
    address: Mapping[str, object] | None = None,
) -> tuple[User, str]:
    """A platform admin with a one-time set-password link (24 h by default); the person's
    fields are validated as an invitation's, with the operator's required fields."""
    account = await platform_account(session)
    user, token = await invite_user(
        session,
        ring,
        settings,
        OPERATOR,
        account_id=account.id,
        username=username,
        full_name=full_name,
        email=email,
        role=Role.PLATFORM_ADMIN,
        phone=phone,
        cnic=cnic,
        address=address,
        link_valid_for=timedelta(hours=settings.first_admin_link_valid_hours),
        send_mail=False,
    )
    return user, invite_link(settings, token)


async def first_admin_link(session: AsyncSession, settings: Settings) -> str | None:
    """A fresh link for the first administrator while none has set a password; else None.

    The user has no personal data yet: the set-password page asks for name and email.
    """
    active = await session.scalar(
        select(User.id).where(User.role == Role.PLATFORM_ADMIN, User.status == "active").limit(1)
    )
    if active is not None:
        return None
    account = await platform_account(session)
    user = await session.scalar(
        select(User).where(
            User.username == FIRST_ADMIN_USERNAME,
            User.status == "invited",
            User.username_held.is_(False),  # a customer's held claim on the name is not it
        )
    )
    if user is None:
        if await session.scalar(select(User.id).where(User.username == FIRST_ADMIN_USERNAME)):
            return None  # someone already uses the name: the operator runs `amanat admin create`
        now = utcnow()
        user = User(
            id=new_id(),
            account_id=account.id,
            username=FIRST_ADMIN_USERNAME,
            role=Role.PLATFORM_ADMIN,
            status="invited",
            person_id=None,
            must_change_password=False,
            failed_signins=0,
            created_at=now,
            updated_at=now,
        )
        session.add(user)
        await session.flush()
        await record_event(
            session,
            actor=OPERATOR.audit(),
            action="user.first_admin",
            account_id=account.id,
            target_type="user",
            target_id=user.id,
        )
    token = await issue_one_time_token(
        session,
        user=user,
        purpose="invite",
        valid_for=timedelta(hours=settings.first_admin_link_valid_hours),
    )
    return invite_link(settings, token)


def first_admin_link_lifetime(settings: Settings) -> timedelta:
    return timedelta(hours=settings.first_admin_link_valid_hours)
