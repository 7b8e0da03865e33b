"""The audit log's hash chain: each record's hash, the chain head, and verifying the chain.

Each record carries the hash of the one before (the first one: 64 zeros), and the single
`audit_chain_head` row names the newest. Appenders lock that row, so the chain never forks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import Insert, Table, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.audit.models import AuditChainHead, AuditRecord
from amanat.core.clock import UTC
from amanat.core.db import Database
from amanat.core.logging import get_logger

GENESIS_HASH = "0" * 64

# Bumped if the encoding below ever changes, so old and new records stay verifiable.
_HASH_SCHEME = "amanat-audit-v1"
_HEAD_ROW_ID = 1
HASHED_COLUMNS = (
    "seq",
    "id",
    "at",
    "actor_id",
    "actor_role",
    "account_id",
    "action",
    "target_type",
    "target_id",
    "purpose",
    "request_id",
    "details",
    "prev_hash",
)
_records = cast(Table, AuditRecord.__table__)
_head = cast(Table, AuditChainHead.__table__)

Problem = Literal["changed", "removed", "reordered", "head_mismatch"]
Progress = Callable[[int, int], None]

_log = get_logger("amanat.audit")


@dataclass(frozen=True)
class VerifyReport:
    """What `verify_chain` found; `detail` is one sentence naming the first bad record."""

    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: Problem | None = None
    detail: str | None = None
    head_seq: int = 0
    head_hash: str = GENESIS_HASH


def utc_iso(value: datetime) -> str:
    """A record's time as it is hashed and exported: UTC, ISO 8601, microseconds."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def record_hash(fields: Mapping[Any, Any]) -> str:
    """SHA-256 over every hashed column of a record, `prev_hash` included."""
    # A JSON array of the values in a fixed order: strings are quoted and escaped and null is not
    # "", so no two different records encode alike (unlike joining the values with a separator).
    values = [fields[name] for name in HASHED_COLUMNS]
    values[HASHED_COLUMNS.index("at")] = utc_iso(fields["at"])
    encoded = json.dumps([_HASH_SCHEME, *values], ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("ascii")).hexdigest()


def _genesis_insert(dialect: str) -> Insert:
    values = {"id": _HEAD_ROW_ID, "seq": 0, "hash": GENESIS_HASH}
    # Two first appenders on PostgreSQL may both find no head; the loser's insert waits for the
    # winner and then does nothing, and both go on to lock the one row.
    if dialect == "postgresql":
        return (
            postgresql.insert(AuditChainHead)
            .values(values)
            .on_conflict_do_nothing(index_elements=["id"])
        )
    if dialect == "sqlite":
        return (
            sqlite.insert(AuditChainHead)
            .values(values)
            .on_conflict_do_nothing(index_elements=["id"])
        )
    return insert(AuditChainHead).values(values)


# Built once: every audited action runs them.
_LOCKED_HEAD = select(_head.c.seq, _head.c.hash).where(_head.c.id == _HEAD_ROW_ID).with_for_update()
_ADVANCE_HEAD = (
    update(_head)
    .where(_head.c.id == _HEAD_ROW_ID)
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
)


async def lock_chain_head(session: AsyncSession) -> tuple[int, str]:
    """The head's seq and hash, locked until the transaction ends, made at genesis if missing.

    SQLite ignores FOR UPDATE; there the first write takes the whole database's write lock.
    """
    found = (await session.execute(_LOCKED_HEAD)).one_or_none()
    if found is None:
        await session.execute(_genesis_insert(session.get_bind().dialect.name))
        found = (await session.execute(_LOCKED_HEAD)).one()
    return int(found.seq), str(found.hash)


async def advance_chain_head(session: AsyncSession, seq: int, head_hash: str) -> None:
    """Name the newest record in the head row (locked by `lock_chain_head` beforehand)."""
    await session.execute(_ADVANCE_HEAD, {"new_seq": seq, "new_hash": head_hash})


async def chain_head(session: AsyncSession) -> tuple[int, str]:
    """The newest record's seq and hash; (0, 64 zeros) before the first record."""
    row = (
        await session.execute(select(_head.c.seq, _head.c.hash).where(_head.c.id == _HEAD_ROW_ID))
    ).one_or_none()
    return (0, GENESIS_HASH) if row is None else (row.seq, row.hash)


def log_chain_head(seq: int, head_hash: str) -> None:
    """Log the head as `audit_chain_head`, so a copy kept elsewhere can prove nothing was cut off.

    The chain alone cannot show that its newest records were removed together with the head;
    the log shipped to a separate system can (ASVS V16.4.3).
    """
    _log.info("audit_chain_head", seq=seq, hash=head_hash)


@dataclass(frozen=True)
class _Finding:
    problem: Problem
    seq: int
    detail: str


async def _record_with_hash(session: AsyncSession, value: str) -> RowMapping | None:
    found = await session.execute(
        select(_records.c.seq, _records.c.id).where(_records.c.hash == value).limit(1)
    )
    return found.mappings().one_or_none()


async def _examine(
    session: AsyncSession, row: RowMapping, expected_seq: int, expected_prev: str
) -> _Finding | None:
    seq, record_id = row["seq"], row["id"]
    if seq != expected_seq:
        jump = f"from seq {expected_seq - 1} " if expected_seq > 1 else ""
        return _Finding(
            "removed",
            expected_seq,
            f"record seq {expected_seq} was removed: the chain jumps {jump}to seq {seq} "
            f"(id {record_id})",
        )
    intact = record_hash(row) == row["hash"]
    linked = row["prev_hash"] == expected_prev
    if intact and linked:
        return None
    if not linked:
        predecessor = await _record_with_hash(session, row["prev_hash"])
        if predecessor is not None:
            return _Finding(
                "reordered",
                seq,
                f"record seq {seq} (id {record_id}) is out of order: it was written after "
                f"record id {predecessor['id']}, which is now at seq {predecessor['seq']}",
            )
        if intact:
            return _Finding(
                "removed",
                seq,
                f"record seq {seq} (id {record_id}) follows a record that is no longer in the log",
            )
    return _Finding(
        "changed",
        seq,
        f"record seq {seq} (id {record_id}) does not match its hash: it was changed",
    )


async def _walk(session: AsyncSession, progress: Progress | None, batch: int) -> VerifyReport:
    # Read the head first and verify up to it: records appended meanwhile are not mistaken for
    # tampering, and a head that names records no longer there is.
    head = (
        await session.execute(select(_head.c.seq, _head.c.hash).where(_head.c.id == _HEAD_ROW_ID))
    ).one_or_none()
    if head is not None:
        total = head.seq
    else:
        total = (await session.execute(select(func.count()).select_from(_records))).scalar_one()
    expected_seq, expected_prev, last_id = 1, GENESIS_HASH, ""
    if progress is not None:
        progress(0, total)
    while True:
        page = select(_records).where(_records.c.seq >= expected_seq)
        if head is not None:
            page = page.where(_records.c.seq <= head.seq)
        rows = (await session.execute(page.order_by(_records.c.seq).limit(batch))).mappings()
        seen = 0
        for row in rows:
            seen += 1
            finding = await _examine(session, row, expected_seq, expected_prev)
            if finding is not None:
                return VerifyReport(
                    ok=False,
                    checked=expected_seq - 1,
                    first_bad_seq=finding.seq,
                    problem=finding.problem,
                    detail=finding.detail,
                    head_seq=expected_seq - 1,
                    head_hash=expected_prev,
                )
            expected_seq, expected_prev, last_id = row["seq"] + 1, row["hash"], row["id"]
        if progress is not None:
            progress(expected_seq - 1, max(total, expected_seq - 1))
        if seen < batch:
            break

    last_seq = expected_seq - 1
    walked = VerifyReport(ok=True, checked=last_seq, head_seq=last_seq, head_hash=expected_prev)
    last_named = (
        f"the last record is seq {last_seq} (id {last_id})" if last_seq else "no record remains"
    )
    if head is None:
        if last_seq == 0:
            return walked
        return _head_mismatch(walked, last_seq, f"the chain head is missing, though {last_named}")
    if head.seq > last_seq:
        gone = (
            f"record seq {head.seq} was"
            if head.seq == last_seq + 1
            else f"records seq {last_seq + 1} to {head.seq} were"
        )
        return _head_mismatch(
            walked,
            last_seq + 1,
            f"{gone} removed from the end of the log (the chain head names seq {head.seq}); "
            f"{last_named}",
        )
    if head.hash != expected_prev:
        return _head_mismatch(
            walked,
            last_seq,
            f"the chain head's hash does not match the log: {last_named}",
        )
    beyond = (
        await session.execute(
            select(func.min(_records.c.seq), func.max(_records.c.seq)).where(
                _records.c.seq > head.seq
            )
        )
    ).one()
    if beyond[0] is not None:
        now_seq, _ = await chain_head(session)
        if now_seq < beyond[1]:
            stray = (
                await session.execute(select(_records.c.id).where(_records.c.seq == beyond[0]))
            ).scalar_one()
            return _head_mismatch(
                walked,
                beyond[0],
                f"record seq {beyond[0]} (id {stray}) lies beyond the chain head: it was not "
                "appended through the chain",
            )
    return walked


def _head_mismatch(walked: VerifyReport, seq: int, detail: str) -> VerifyReport:
    return VerifyReport(
        ok=False,
        checked=walked.checked,
        first_bad_seq=seq,
        problem="head_mismatch",
        detail=detail,
        head_seq=walked.head_seq,
        head_hash=walked.head_hash,
    )


async def verify_chain(
    session_or_database: AsyncSession | Database,
    *,
    progress: Progress | None = None,
    batch: int = 1000,
) -> VerifyReport:
    """Recompute every record's hash and link in seq order, `batch` records at a time.

    Reports the first record changed, removed or moved, or a head that disagrees with the log;
    `progress(done, total)` is called after each batch.
    """
    if batch < 1:
        raise ValueError("batch must be at least 1")
    if isinstance(session_or_database, Database):
        async with session_or_database.sessionmaker() as session:
            return await _walk(session, progress, batch)
    return await _walk(session_or_database, progress, batch)
