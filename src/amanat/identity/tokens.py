"""Random secrets handed to people or programs, and the one-time links built on them.

Every secret is 256 bits from `secrets`; only its SHA-256 is stored (a fast hash is right for
uniformly random tokens: there is nothing to guess). ASVS V7.2.1–4, V6.4.1, V11.5.1.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.core.clock import utcnow
from amanat.core.errors import InvalidInput
from amanat.core.ids import new_id
from amanat.identity.models import OneTimeToken, User

TOKEN_BYTES = 32


def new_secret_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


async def issue_one_time_token(
    session: AsyncSession, *, user: User, purpose: str, valid_for: timedelta
) -> str:
    """A single-use link secret; any earlier unused one of the same purpose stops working."""
    now = utcnow()
    await session.execute(
        update(OneTimeToken)
        .where(
            OneTimeToken.user_id == user.id,
            OneTimeToken.purpose == purpose,
            OneTimeToken.used_at.is_(None),
        )
        .values(used_at=now)
    )
    token = new_secret_token()
    session.add(
        OneTimeToken(
            id=new_id(),
            token_hash=token_digest(token),
            purpose=purpose,
            account_id=user.account_id,
            user_id=user.id,
            created_at=now,
            expires_at=now + valid_for,
        )
    )
    await session.flush()
    return token


async def issue_first_one_time_tokens(
    session: AsyncSession, *, users: Sequence[User], purpose: str, valid_for: timedelta
) -> list[str]:
    """A single-use link secret for each of these new users (who hold none yet), in order."""
    now = utcnow()
    tokens = [new_secret_token() for _ in users]
    session.add_all(
        OneTimeToken(
            id=new_id(),
            token_hash=token_digest(token),
            purpose=purpose,
            account_id=user.account_id,
            user_id=user.id,
            created_at=now,
            expires_at=now + valid_for,
        )
        for user, token in zip(users, tokens, strict=True)
    )
    await session.flush()
    return tokens


async def peek_one_time_token(session: AsyncSession, *, purpose: str, token: str) -> OneTimeToken:
    """The live token row, without using it up (to show the form it leads to)."""
    row = await session.scalar(
        select(OneTimeToken).where(
            OneTimeToken.token_hash == token_digest(token), OneTimeToken.purpose == purpose
        )
    )
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        # One answer for unknown, used and expired links: nothing to learn from the difference.
        raise InvalidInput(
            "This link is not valid any more. Ask for a new one.", code="link_invalid"
        )
    return row


async def consume_one_time_token(
    session: AsyncSession, *, purpose: str, token: str
) -> OneTimeToken:
    """Use the token up; a second use, or use after expiry, is refused."""
    row = await peek_one_time_token(session, purpose=purpose, token=token)
    # Conditional update: of two concurrent uses, exactly one sees a row change.
    result = await session.execute(
        update(OneTimeToken)
        .where(OneTimeToken.id == row.id, OneTimeToken.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        raise InvalidInput(
            "This link is not valid any more. Ask for a new one.", code="link_invalid"
        )
    return row
