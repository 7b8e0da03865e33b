"""MFA secrets moved to the current master key version after a rotation, so the old one can
retire. Each batch is its own transaction and may be interrupted and run again."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.core.batches import BatchOutcome, run_in_batches
from amanat.core.crypto import DecryptionError, KeyringError, MasterKeyring
from amanat.core.db import Database
from amanat.identity.models import User
from amanat.identity.secrets_at_rest import open_secret, seal_secret

RESEAL_BATCH = 500
_COLUMN = "totp_secret"


@dataclass(frozen=True)
class ResealBatch:
    looked_at: int
    resealed: int
    unreadable: int
    # The last user id looked at: the next batch starts after it. None: nothing was left.
    last_user_id: str | None


def _current_only(ring: MasterKeyring) -> MasterKeyring:
    version = ring.current_version
    return MasterKeyring(versions={version: ring.get(version)}, current_version=version)


def _opens(ring: MasterKeyring, user_id: str, sealed: bytes | None) -> bool:
    if sealed is None:
        return True
    try:
        open_secret(ring, user_id=user_id, column=_COLUMN, sealed=sealed)
    except (DecryptionError, KeyringError, ValueError):
        return False
    return True


async def mfa_secrets_not_current(session: AsyncSession, ring: MasterKeyring) -> int:
    """How many MFA secrets are sealed under a master version other than the current one."""
    current = _current_only(ring)
    rows = await session.execute(
        select(User.id, User.totp_secret).where(User.totp_secret.is_not(None))
    )
    return len([user_id for user_id, sealed in rows if not _opens(current, user_id, sealed)])


async def reseal_mfa_secrets_batch(
    session: AsyncSession, ring: MasterKeyring, *, after: str = "", limit: int = RESEAL_BATCH
) -> ResealBatch:
    """Seal up to `limit` users' MFA secrets (in id order, after `after`) under the current
    version; those already under it are left alone."""
    rows = (
        await session.execute(
            select(User.id, User.totp_secret)
            .where(User.totp_secret.is_not(None), User.id > after)
            .order_by(User.id)
            .limit(limit)
        )
    ).all()
    current = _current_only(ring)
    resealed = unreadable = 0
    for user_id, sealed in rows:
        if sealed is None or _opens(current, user_id, sealed):
            continue
        try:
            secret = open_secret(ring, user_id=user_id, column=_COLUMN, sealed=sealed)
        except (DecryptionError, KeyringError, ValueError):
            unreadable += 1
            continue
        # Compare-and-set: a secret the user replaced meanwhile is theirs, not ours to undo.
        await session.execute(
            update(User)
            .where(User.id == user_id, User.totp_secret == sealed)
            .values(totp_secret=seal_secret(ring, user_id=user_id, column=_COLUMN, secret=secret))
            .execution_options(synchronize_session=False)
        )
        resealed += 1
    await session.flush()
    return ResealBatch(
        looked_at=len(rows),
        resealed=resealed,
        unreadable=unreadable,
        last_user_id=rows[-1].id if rows else None,
    )


@dataclass(frozen=True)
class ResealReport:
    resealed: int
    unreadable: int


async def reseal_mfa_secrets(
    database: Database,
    ring: MasterKeyring,
    *,
    batch_size: int = RESEAL_BATCH,
    progress: Callable[[int, int], None] | None = None,
) -> ResealReport:
    """Seal every MFA secret under the current version, one transaction per batch."""
    async with database.sessionmaker() as session:
        total = await session.scalar(
            select(func.count(User.id)).where(User.totp_secret.is_not(None))
        )

    async def step(session: AsyncSession, after: str) -> BatchOutcome:
        batch = await reseal_mfa_secrets_batch(session, ring, after=after, limit=batch_size)
        return BatchOutcome(batch.resealed, batch.unreadable, batch.looked_at, batch.last_user_id)

    done = await run_in_batches(database, step, total=int(total or 0), progress=progress)
    return ResealReport(resealed=done.changed, unreadable=done.unreadable)
