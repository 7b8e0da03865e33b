"""Reading the audit log: list records newest first (filtered by actor, action, target and
time), or export them whole as JSON lines."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO, cast

from sqlalchemy import Table, func, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.audit.chain import HASHED_COLUMNS, Progress, utc_iso
from amanat.audit.models import AuditRecord

LIST_MAX_LIMIT = 1000

_EXPORTED_COLUMNS = (*HASHED_COLUMNS, "hash")
_records = cast(Table, AuditRecord.__table__)


def _exported(row: RowMapping) -> dict[str, Any]:
    line = {name: row[name] for name in _EXPORTED_COLUMNS}
    line["at"] = utc_iso(row["at"])
    return line


async def export_records(
    session: AsyncSession,
    out: TextIO,
    *,
    since_seq: int = 0,
    progress: Progress | None = None,
    batch: int = 1000,
) -> int:
    """Write each record after `since_seq` as one JSON line, every column; returns the count.

    `details` is written as the exact JSON text that was hashed, so a reader can recheck a hash.
    """
    if batch < 1:
        raise ValueError("batch must be at least 1")
    total = (
        await session.execute(
            select(func.count()).select_from(_records).where(_records.c.seq > since_seq)
        )
    ).scalar_one()
    written, cursor = 0, since_seq
    if progress is not None:
        progress(0, total)
    while True:
        rows = (
            await session.execute(
                select(_records)
                .where(_records.c.seq > cursor)
                .order_by(_records.c.seq)
                .limit(batch)
            )
        ).mappings()
        seen = 0
        for row in rows:
            seen += 1
            out.write(json.dumps(_exported(row), ensure_ascii=True, separators=(",", ":")) + "\n")
            cursor = row["seq"]
        written += seen
        if progress is not None:
            progress(written, max(total, written))
        if seen < batch:
            return written


async def list_records(
    session: AsyncSession,
    *,
    account_id: str | None,
    target_id: str | None = None,
    limit: int = 100,
    before_seq: int | None = None,
) -> list[AuditRecord]:
    """The newest records first, scoped to one account when `account_id` is given.

    Page on with `before_seq` set to the last seq returned.
    """
    if not 1 <= limit <= LIST_MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {LIST_MAX_LIMIT}")
    query = select(AuditRecord)
    if account_id is not None:
        query = query.where(AuditRecord.account_id == account_id)
    if target_id is not None:
        query = query.where(AuditRecord.target_id == target_id)
    if before_seq is not None:
        query = query.where(AuditRecord.seq < before_seq)
    found = await session.execute(query.order_by(AuditRecord.seq.desc()).limit(limit))
    return list(found.scalars())


@dataclass(frozen=True)
class RecordFilter:
    """Which records a reader asks for; every field narrows, None means "any".

    `account_id` is the reader's scope, set by the caller from who the reader is, never from
    what they typed. `actor_ids`/`target_ids` given as an empty list match nothing (a name that
    belongs to no one in scope)."""

    account_id: str | None
    actor_ids: Sequence[str] | None = None
    action: str | None = None
    target_ids: Sequence[str] | None = None
    since: datetime | None = None
    until: datetime | None = None


async def filter_records(
    session: AsyncSession, wanted: RecordFilter, *, limit: int = 50, before_seq: int | None = None
) -> list[AuditRecord]:
    """The newest matching records first; page on with `before_seq` set to the last seq."""
    if not 1 <= limit <= LIST_MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {LIST_MAX_LIMIT}")
    query = select(AuditRecord)
    if wanted.account_id is not None:
        query = query.where(AuditRecord.account_id == wanted.account_id)
    if wanted.actor_ids is not None:
        query = query.where(AuditRecord.actor_id.in_(list(wanted.actor_ids)))
    if wanted.action is not None:
        query = query.where(AuditRecord.action == wanted.action)
    if wanted.target_ids is not None:
        query = query.where(AuditRecord.target_id.in_(list(wanted.target_ids)))
    if wanted.since is not None:
        query = query.where(AuditRecord.at >= wanted.since)
    if wanted.until is not None:
        query = query.where(AuditRecord.at < wanted.until)
    if before_seq is not None:
        query = query.where(AuditRecord.seq < before_seq)
    found = await session.execute(query.order_by(AuditRecord.seq.desc()).limit(limit))
    return list(found.scalars())


async def actions_recorded(session: AsyncSession, account_id: str | None) -> list[str]:
    """The distinct action codes in the log (of one account when given), for a filter's list."""
    query = select(AuditRecord.action).distinct()
    if account_id is not None:
        query = query.where(AuditRecord.account_id == account_id)
    return sorted(await session.scalars(query))
