"""Usernames for the audit log's readers: the log holds user ids only, its pages show names.

Usernames are login ids, not personal data (`models.User`). The caller decides whose records
the reader may see and passes only ids from those records, and narrows name look-ups to the
reader's account."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.identity.models import User


async def usernames_of(session: AsyncSession, user_ids: Collection[str]) -> dict[str, str]:
    """Each id's username; ids of no user are left out."""
    wanted = sorted({user_id for user_id in user_ids if user_id})
    if not wanted:
        return {}
    rows = await session.execute(select(User.id, User.username).where(User.id.in_(wanted)))
    return {user_id: username for user_id, username in rows.all()}


async def ids_of_username(
    session: AsyncSession, username: str, *, account_id: str | None
) -> list[str]:
    """The id of the user with this username (of this account when given): at most one."""
    query = select(User.id).where(User.username == username.strip().lower()[:64])
    if account_id is not None:
        query = query.where(User.account_id == account_id)
    return list(await session.scalars(query))
