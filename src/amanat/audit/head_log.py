"""The chain head, logged once a UTC day so a copy kept elsewhere can show the log was not cut.

The worker loop (in `amanat worker` and in `amanat serve`'s in-process runner) checks every
hour; the first check of a UTC day logs the head and appends an `audit.chain_head_logged`
record naming the seq it logged. That record is how every later check, in any worker process,
knows the day is done: it is written under the chain head's lock, so with several workers one
logs and the others find the record and log nothing (on SQLite, one writer at a time: a second
worker's check fails to write, and its next one finds the day done).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.audit.actors import SYSTEM
from amanat.audit.chain import lock_chain_head, log_chain_head
from amanat.audit.models import AuditRecord
from amanat.audit.records import record_event
from amanat.core.clock import UTC
from amanat.core.db import Database, unit_of_work

CHAIN_HEAD_LOGGED = "audit.chain_head_logged"
HEAD_LOG_JOB = "audit_chain_head"
# Hourly, not daily: a loop whose day drifts past midnight would otherwise skip a UTC day.
HEAD_LOG_CHECK_EVERY = timedelta(hours=1)


async def _last_logged_on(session: AsyncSession) -> date | None:
    # Newest first along the primary key: the scan stops at the latest such record, at most a
    # day's records back once the job has run.
    at = await session.scalar(
        select(AuditRecord.at)
        .where(AuditRecord.action == CHAIN_HEAD_LOGGED)
        .order_by(AuditRecord.seq.desc())
        .limit(1)
    )
    return None if at is None else at.astimezone(UTC).date()


async def log_chain_head_for_the_day(
    session: AsyncSession, now: datetime
) -> tuple[int, str] | None:
    """Log the chain head unless it was already logged on `now`'s UTC day; the seq and hash
    logged, or None. The caller's unit of work commits the record that marks the day done."""
    if now.tzinfo is None:
        raise ValueError("the time must be timezone-aware")
    day = now.astimezone(UTC).date()
    if await _last_logged_on(session) == day:
        return None
    seq, head_hash = await lock_chain_head(session)
    # Another worker may have logged the day while this one waited for the lock.
    if await _last_logged_on(session) == day:
        return None
    await record_event(
        session,
        actor=SYSTEM,
        action=CHAIN_HEAD_LOGGED,
        account_id=None,
        details={"seq": seq, "day": day.isoformat()},
        at=now,
    )
    # Logged before the commit: if the commit fails, the next check logs the day again, which
    # is harmless; a head never logged would not be.
    log_chain_head(seq, head_hash)
    return seq, head_hash


async def log_chain_head_if_due(database: Database, now: datetime) -> None:
    """The worker loop's job: `log_chain_head_for_the_day` in a transaction of its own."""
    async with unit_of_work(database) as session:
        await log_chain_head_for_the_day(session, now)
