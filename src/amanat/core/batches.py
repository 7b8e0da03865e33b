"""Long jobs over many rows (rewrap keys, reseal secrets, reindex people), one transaction per
batch in id order, so an interrupted run (even kill -9) continues where it stopped."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from amanat.core.db import Database, unit_of_work

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class BatchOutcome:
    """What one batch did: rows changed, rows that could not be read, rows looked at, and the
    last id looked at (the next batch starts after it; None: nothing was left)."""

    changed: int
    unreadable: int
    looked_at: int
    last_id: str | None


@dataclass(frozen=True)
class BatchesDone:
    changed: int
    unreadable: int


async def run_in_batches(
    database: Database,
    step: Callable[[AsyncSession, str], Awaitable[BatchOutcome]],
    *,
    total: int,
    progress: Progress | None = None,
) -> BatchesDone:
    """Run `step(session, after)` in a unit of work each until it finds nothing left;
    `progress(done, total)` after each batch (total grows if more turned up)."""
    done = changed = unreadable = 0
    after = ""
    while True:
        async with unit_of_work(database) as session:
            outcome = await step(session, after)
        if outcome.last_id is None:
            return BatchesDone(changed=changed, unreadable=unreadable)
        after = outcome.last_id
        changed += outcome.changed
        unreadable += outcome.unreadable
        done += outcome.looked_at
        if progress is not None:
            progress(done, max(total, done))
