"""What the people room needs from identity for a person's own use cases, handed to it by the
doors: the signed-in user as an account holder, re-authentication bound to that user, the
holder of a person (for a confirmation link), the name of the holder's organisation, and the
usernames of the admins who looked.

People sits below identity and never reads users itself; these functions are where identity
answers for it.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.core.crypto import MasterKeyring
from amanat.core.settings import Settings
from amanat.identity.accounts import account_in_use
from amanat.identity.models import CustomerAccount, User
from amanat.identity.reauthentication import check_current_password
from amanat.people.account_holder import AccountHolder, Reauthenticate

# Users who may still confirm a change by link (a suspended or erased user may not).
_LINK_STATUSES = ("active", "invited")


def account_holder(user: User) -> AccountHolder:
    """The user as the people room knows the holder of an account."""
    return AccountHolder(
        user_id=user.id,
        account_id=user.account_id,
        username=user.username,
        role=user.role.value,
        person_id=user.person_id,
    )


async def organisation_name(session: AsyncSession, user: User) -> str | None:
    """The name of the customer account the user belongs to (the provider's own account for
    staff); None if it is gone."""
    account = await session.get(CustomerAccount, user.account_id)
    return account.name if account is not None else None


def reauthenticator(
    session: AsyncSession, ring: MasterKeyring, settings: Settings, user: User
) -> Reauthenticate:
    """Check `user`'s current password, counting a wrong one as a failed sign-in."""

    async def reauthenticate(password: str) -> None:
        await check_current_password(session, ring, settings, user, password)

    return reauthenticate


async def link_holder_of_person(session: AsyncSession, person_id: str) -> AccountHolder | None:
    """The holder of this person's data, if they may still use links: active or invited, in an
    account in use. None otherwise."""
    user = await session.scalar(select(User).where(User.person_id == person_id))
    if (
        user is None
        or user.status not in _LINK_STATUSES
        or not await account_in_use(session, user.account_id)
    ):
        return None
    return account_holder(user)


async def usernames_of(session: AsyncSession, user_ids: Collection[str]) -> dict[str, str]:
    """The usernames of these users by id. An erased user is left out: their name is gone (the
    row keeps only a tombstone), so nobody is shown it."""
    rows = await session.execute(
        select(User.id, User.username, User.status).where(User.id.in_(user_ids))
    )
    return {row.id: row.username for row in rows if row.status != "erased"}
