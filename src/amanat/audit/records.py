"""Audit records: append who did what, to which record, when and why, to the hash chain.

A record holds ids and codes only. `details` carries ids, codes and flags (a field name, a
ticket id, `mfa=true`), never personal data values: no names, emails, phone or CNIC numbers,
addresses or free text. Anyone who may read the audit log may therefore read it whole, and
erasing a person never needs to touch it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import structlog
from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.audit.actors import SYSTEM, AuditActor
from amanat.audit.chain import advance_chain_head, lock_chain_head, record_hash
from amanat.audit.models import AuditRecord
from amanat.core.clock import UTC, utcnow
from amanat.core.ids import new_id

DETAIL_MAX_CHARS = 200
DETAIL_MAX_ENTRIES = 32

# Ints beyond 2**53 lose precision in JavaScript and other JSON readers of an export.
_DETAIL_MAX_INT = 2**53
_DETAIL_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")
_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
# Built once: every audited action runs it.
_APPEND_RECORDS = insert(cast(Table, AuditRecord.__table__))


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
        row["hash"] = record_hash(row)
        seq, head_hash = row["seq"], row["hash"]
        rows.append(row)
    # Plain statements, not the unit of work: an append is an insert and an update, nothing
    # for the ORM to track, and it ran on every audited request.
    await session.execute(_APPEND_RECORDS, rows)
    await advance_chain_head(session, seq, head_hash)
    return [AuditRecord(**row) for row in rows]
