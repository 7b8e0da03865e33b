"""The audit log's use cases: append a record to the hash chain, verify the chain, export it.

A record says who did what, to which record, when and why, in ids and codes only. `details`
carries ids, codes and flags (a field name, a ticket id, `mfa=true`), never personal data values:
no names, emails, phone or CNIC numbers, addresses or free text. Anyone who may read the audit log
may therefore read it whole, and erasing a person never needs to touch it.

Each record carries the hash of the one before (the first one: 64 zeros), and the single
`audit_chain_head` row names the newest. Appenders lock that row, so the chain never forks.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TextIO, cast

import structlog
from sqlalchemy import Insert, Table, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.audit.models import AuditChainHead, AuditRecord
from amanat.core.clock import UTC, utcnow
from amanat.core.db import Database
from amanat.core.ids import new_id
from amanat.core.logging import get_logger

GENESIS_HASH = "0" * 64
SYSTEM_ROLE = "system"
OPERATOR_ROLE = "operator"
DETAIL_MAX_CHARS = 200
DETAIL_MAX_ENTRIES = 32
LIST_MAX_LIMIT = 1000

# Bumped if the encoding below ever changes, so old and new records stay verifiable.
_HASH_SCHEME = "amanat-audit-v1"
_HEAD_ROW_ID = 1
# Ints beyond 2**53 lose precision in JavaScript and other JSON readers of an export.
_DETAIL_MAX_INT = 2**53
_DETAIL_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")
_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
_HASHED_COLUMNS = (
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
_EXPORTED_COLUMNS = (*_HASHED_COLUMNS, "hash")
_records = cast(Table, AuditRecord.__table__)
_head = cast(Table, AuditChainHead.__table__)

Problem = Literal["changed", "removed", "reordered", "head_mismatch"]
Progress = Callable[[int, int], None]

_log = get_logger("amanat.audit")


@dataclass(frozen=True)
class AuditActor:
    """Who acted: a signed-in user and their role. `None` in place of an actor means the system."""

    user_id: str | None
    role: str | None


SYSTEM = AuditActor(user_id=None, role=SYSTEM_ROLE)
OPERATOR = AuditActor(user_id=None, role=OPERATOR_ROLE)
"""The person at the `amanat` command line, who signs in to nothing."""


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


def _utc_iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _record_hash(fields: Mapping[Any, Any]) -> str:
    # A JSON array of the values in a fixed order: strings are quoted and escaped and null is not
    # "", so no two different records encode alike (unlike joining the values with a separator).
    values = [fields[name] for name in _HASHED_COLUMNS]
    values[_HASHED_COLUMNS.index("at")] = _utc_iso(fields["at"])
    encoded = json.dumps([_HASH_SCHEME, *values], ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("ascii")).hexdigest()


def canonical_details(details: Mapping[str, str | int | bool | None] | None) -> str:
    """The JSON text stored for `details`; ValueError for anything but short ids, codes, flags."""
    if not details:
        return "{}"
    if len(details) > DETAIL_MAX_ENTRIES:
        raise ValueError(f"audit details hold at most {DETAIL_MAX_ENTRIES} entries")
    for key, value in details.items():
        if (
            not isinstance(key, str)
            or len(key) > DETAIL_MAX_CHARS
            or not _DETAIL_KEY.fullmatch(key)
        ):
            raise ValueError("an audit detail name must be a short identifier")
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, int):
            if abs(value) > _DETAIL_MAX_INT:
                raise ValueError(f"audit detail {key!r} is too large a number")
        elif isinstance(value, str):
            # Control characters have no place in an id or code, and could forge log lines.
            if len(value) > DETAIL_MAX_CHARS or not value.isprintable():
                raise ValueError(
                    f"audit detail {key!r} must be a printable id or code of at most "
                    f"{DETAIL_MAX_CHARS} characters"
                )
        else:
            raise ValueError(f"audit detail {key!r} must be text, a whole number, a flag or null")
    return json.dumps(dict(details), ensure_ascii=True, separators=(",", ":"), sort_keys=True)


def _checked_text(name: str, value: str | None, limit: int, *, required: bool = False) -> None:
    if value is None:
        if required:
            raise ValueError(f"audit {name} is required")
        return
    if not value or len(value) > limit or not value.isprintable():
        raise ValueError(f"audit {name} must be printable text of 1 to {limit} characters")


def _current_request_id() -> str | None:
    value = structlog.contextvars.get_contextvars().get("request_id")
    # Our middleware binds a short hex id; anything else did not come from it.
    if isinstance(value, str) and _REQUEST_ID.fullmatch(value):
        return value
    return None


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
_APPEND_RECORDS = insert(_records)


async def lock_chain_head(session: AsyncSession) -> tuple[int, str]:
    """The head's seq and hash, locked until the transaction ends, made at genesis if missing.

    SQLite ignores FOR UPDATE; there the first write takes the whole database's write lock.
    """
    found = (await session.execute(_LOCKED_HEAD)).one_or_none()
    if found is None:
        await session.execute(_genesis_insert(session.get_bind().dialect.name))
        found = (await session.execute(_LOCKED_HEAD)).one()
    return int(found.seq), str(found.hash)


@dataclass(frozen=True)
class AuditEntry:
    """One record to append: who did what to which target, for which purpose."""

    actor: AuditActor | None
    action: str
    account_id: str | None
    target_type: str | None = None
    target_id: str | None = None
    purpose: str | None = None
    details: Mapping[str, str | int | bool | None] | None = None
    at: datetime | None = None


async def record_event(
    session: AsyncSession,
    *,
    actor: AuditActor | None,
    action: str,
    account_id: str | None,
    target_type: str | None = None,
    target_id: str | None = None,
    purpose: str | None = None,
    details: Mapping[str, str | int | bool | None] | None = None,
    at: datetime | None = None,
) -> AuditRecord:
    """Append one record to the chain and flush it (the caller's unit of work commits).

    `details` holds ids, codes and flags only, never personal data; ValueError otherwise.
    """
    entry = AuditEntry(actor, action, account_id, target_type, target_id, purpose, details, at)
    [record] = await record_events(session, [entry])
    return record


async def record_events(session: AsyncSession, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
    """Append several records, in order, under one lock of the head, and flush them once.

    Every entry is checked before anything is written: one bad entry appends none.
    """
    checked = [(entry, canonical_details(entry.details)) for entry in entries]
    for entry, _details in checked:
        who = entry.actor or SYSTEM
        if entry.at is not None and entry.at.tzinfo is None:
            raise ValueError("audit time must be timezone-aware")
        _checked_text("action", entry.action, 64, required=True)
        _checked_text("actor id", who.user_id, 36)
        _checked_text("actor role", who.role, 32)
        _checked_text("account id", entry.account_id, 36)
        _checked_text("target type", entry.target_type, 32)
        _checked_text("target id", entry.target_id, 36)
        _checked_text("purpose", entry.purpose, 64)
    if not checked:
        return []
    # What the caller changed so far is written first, as when the records were flushed with it.
    await session.flush()
    seq, head_hash = await lock_chain_head(session)
    request_id = _current_request_id()
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for entry, details_text in checked:
        who = entry.actor or SYSTEM
        row: dict[str, Any] = {
            "seq": seq + 1,
            "id": new_id(),
            "at": now if entry.at is None else entry.at.astimezone(UTC),
            "actor_id": who.user_id,
            "actor_role": who.role,
            "account_id": entry.account_id,
            "action": entry.action,
            "target_type": entry.target_type,
            "target_id": entry.target_id,
            "purpose": entry.purpose,
            "request_id": request_id,
            "details": details_text,
            "prev_hash": head_hash,
        }
        row["hash"] = _record_hash(row)
        seq, head_hash = row["seq"], row["hash"]
        rows.append(row)
    # Plain statements, not the unit of work: an append is an insert and an update, nothing
    # for the ORM to track, and it ran on every audited request.
    await session.execute(_APPEND_RECORDS, rows)
    await session.execute(_ADVANCE_HEAD, {"new_seq": seq, "new_hash": head_hash})
    return [AuditRecord(**row) for row in rows]


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
    intact = _record_hash(row) == row["hash"]
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


def _exported(row: RowMapping) -> dict[str, Any]:
    line = {name: row[name] for name in _EXPORTED_COLUMNS}
    line["at"] = _utc_iso(row["at"])
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
