"""Blind indexes recomputed under the current master version, after a key rotation.

The index key is derived from the current master version, so a rotation changes it. Look-ups
try every version in the ring, so people indexed under an older version are still found, but
only until that version is retired: every person must be reindexed first. Each batch is its
own transaction and picks the people whose `index_key_version` is not the current one, so
reindexing can be interrupted (kill -9) and run again.

A person whose data key is gone (erased, or a write that failed half-way) cannot be decrypted,
so cannot be reindexed; they are counted, and do not hold back the rotation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.core.batches import BatchOutcome, run_in_batches
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.people.blind_index import reindex_loaded_people
from amanat.people.models import Person, PersonKey
from amanat.people.personal_data import read_people

REINDEX_BATCH = 200

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ReindexBatch:
    reindexed: int
    unreadable: int
    # The last person id looked at: the next batch starts after it. None: nothing was left.
    last_person_id: str | None


@dataclass(frozen=True)
class ReindexReport:
    reindexed: int
    unreadable: int


async def count_people_to_reindex(session: AsyncSession, ring: MasterKeyring) -> int:
    """How many people are indexed under a master version other than the current one."""
    count = await session.scalar(
        select(func.count(Person.id)).where(Person.index_key_version != ring.current_version)
    )
    return int(count or 0)


async def people_by_index_version(session: AsyncSession) -> dict[int, int]:
    """How many people each master version's blind-index key indexes."""
    rows = await session.execute(
        select(Person.index_key_version, func.count(Person.id)).group_by(Person.index_key_version)
    )
    return {int(version): int(count) for version, count in rows}


async def readable_people_to_reindex(session: AsyncSession, ring: MasterKeyring) -> int:
    """Like `count_people_to_reindex`, leaving out people without a data key (they can never
    be reindexed, nor read): what an old master version must wait for before retiring."""
    ids = list(
        await session.scalars(
            select(Person.id).where(Person.index_key_version != ring.current_version)
        )
    )
    with_key = 0
    # The key rows live in the key store, another database: no join, so look them up in chunks.
    for start in range(0, len(ids), REINDEX_BATCH):
        chunk = ids[start : start + REINDEX_BATCH]
        found = await session.scalar(
            select(func.count(PersonKey.person_id)).where(PersonKey.person_id.in_(chunk))
        )
        with_key += int(found or 0)
    return with_key


async def reindex_batch(
    session: AsyncSession, ring: MasterKeyring, *, after: str = "", limit: int = REINDEX_BATCH
) -> ReindexBatch:
    """Reindex up to `limit` people (in id order, after `after`) under the current version."""
    rows = list(
        await session.scalars(
            select(Person)
            .where(Person.index_key_version != ring.current_version, Person.id > after)
            .order_by(Person.id)
            .limit(limit)
        )
    )
    people = await read_people(session, ring, rows)
    readable = {row: data for row in rows if (data := people[row.id]) is not None}
    await reindex_loaded_people(session, ring, readable)
    await session.flush()
    return ReindexBatch(
        reindexed=len(readable),
        unreadable=len(rows) - len(readable),
        last_person_id=rows[-1].id if rows else None,
    )


async def reindex_people(
    database: Database,
    ring: MasterKeyring,
    *,
    batch_size: int = REINDEX_BATCH,
    progress: Progress | None = None,
) -> ReindexReport:
    """Reindex everyone not indexed under the current version, one transaction per batch."""
    async with database.sessionmaker() as session:
        total = await count_people_to_reindex(session, ring)

    async def step(session: AsyncSession, after: str) -> BatchOutcome:
        batch = await reindex_batch(session, ring, after=after, limit=batch_size)
        looked_at = batch.reindexed + batch.unreadable
        return BatchOutcome(batch.reindexed, batch.unreadable, looked_at, batch.last_person_id)

    done = await run_in_batches(database, step, total=total, progress=progress)
    return ReindexReport(reindexed=done.changed, unreadable=done.unreadable)
