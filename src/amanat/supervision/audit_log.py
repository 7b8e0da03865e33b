"""Reading the audit log, filtered, in words: who did what to whom, and when.

Account owners and admins read their own account's records only; privacy officers and platform
admins (the roles whose permission reaches every account) read every account's. The reader's
scope comes from who they are, never from a filter: a crafted filter can only narrow it.
Records hold ids and codes; this module gives them usernames (`identity.audit_names`) and words
(`audit.event_words`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from amanat.access.actors import Actor
from amanat.access.roles import Permission
from amanat.audit.event_words import action_words, role_words, target_words
from amanat.audit.reading import RecordFilter, actions_recorded, filter_records
from amanat.core.clock import UTC
from amanat.core.errors import InvalidInput
from amanat.identity.audit_names import ids_of_username, usernames_of

if TYPE_CHECKING:
    from amanat.audit.models import AuditRecord

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_ID_MAX = 36


@dataclass(frozen=True)
class AuditQuery:
    """The filters as typed: every one optional. Dates are whole days in the reader's zone,
    `until` included; `cursor` is the `next_cursor` of the page before."""

    actor: str = ""
    action: str = ""
    target: str = ""
    since: str = ""
    until: str = ""
    account: str = ""
    cursor: str = ""
    limit: int = DEFAULT_LIMIT


@dataclass(frozen=True)
class AuditEvent:
    seq: int
    at: datetime
    action: str
    action_words: str
    account_id: str | None
    actor_id: str | None
    actor_username: str | None
    actor_role: str | None
    actor_role_words: str
    target_type: str | None
    target_type_words: str
    target_id: str | None
    target_username: str | None
    purpose: str | None
    details: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditLogPage:
    events: list[AuditEvent]
    next_cursor: str | None
    every_account: bool
    actions: list[str]


def may_read_audit_log(actor: Actor) -> bool:
    return actor.can(Permission.READ_AUDIT_LOG)


def reads_every_account(actor: Actor) -> bool:
    """Staff holding the permission read every account's records; account admins their own."""
    return actor.can(Permission.READ_AUDIT_LOG) and (actor.is_operator or actor.is_platform_staff)


def _day(text: str, name: str) -> date | None:
    cleaned = text.strip()
    if not cleaned:
        return None
    try:
        if len(cleaned) != 10:
            raise ValueError(cleaned)
        return date.fromisoformat(cleaned)
    except ValueError:
        raise InvalidInput(
            "Give a date as YYYY-MM-DD, e.g. 2026-12-02.", code="invalid_date", field=name
        ) from None


def _time_range(query: AuditQuery, zone: tzinfo) -> tuple[datetime | None, datetime | None]:
    since, until = _day(query.since, "since"), _day(query.until, "until")
    if since is not None and until is not None and until < since:
        raise InvalidInput(
            "The end date must not be before the start date.", code="invalid_date", field="until"
        )
    start = None if since is None else datetime.combine(since, time(), zone).astimezone(UTC)
    end = (
        None
        if until is None
        else datetime.combine(until + timedelta(days=1), time(), zone).astimezone(UTC)
    )
    return start, end


def _cursor(text: str) -> int | None:
    cleaned = text.strip()
    if not cleaned:
        return None
    if not cleaned.isdigit() or len(cleaned) > 18:
        raise InvalidInput("This page link is not valid.", code="invalid_cursor", field="cursor")
    return int(cleaned)


def _checked(query: AuditQuery) -> None:
    if not 1 <= query.limit <= MAX_LIMIT:
        raise InvalidInput(
            f"Ask for 1 to {MAX_LIMIT} events a page.", code="invalid_limit", field="limit"
        )
    for name, value, bound in (
        ("actor", query.actor, 64),
        ("action", query.action, 64),
        ("target", query.target, 64),
        ("account", query.account, _ID_MAX),
    ):
        if len(value.strip()) > bound or not value.isprintable():
            raise InvalidInput(
                f"This filter takes at most {bound} characters.",
                code="invalid_filter",
                field=name,
            )


async def _record_filter(
    session: AsyncSession, actor: Actor, query: AuditQuery, zone: tzinfo
) -> RecordFilter:
    every = reads_every_account(actor)
    # The scope is the reader's: an account admin's is their account whatever they typed.
    scope = (query.account.strip() or None) if every else (actor.account_id or "")
    since, until = _time_range(query, zone)
    actor_ids = None
    if query.actor.strip():
        actor_ids = await ids_of_username(session, query.actor, account_id=None)
    target_ids = None
    if query.target.strip():
        typed = query.target.strip()
        target_ids = await ids_of_username(session, typed, account_id=None)
        if len(typed) <= _ID_MAX:
            target_ids.append(typed)
    return RecordFilter(
        account_id=scope,
        actor_ids=actor_ids,
        action=query.action.strip() or None,
        target_ids=target_ids,
        since=since,
        until=until,
    )


def _details(record: AuditRecord) -> dict[str, object]:
    try:
        parsed = json.loads(record.details or "{}")
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


async def read_audit_log(
    session: AsyncSession, actor: Actor, query: AuditQuery, *, zone: tzinfo = UTC
) -> AuditLogPage:
    """One page of the records the actor may read, newest first, filtered by `query`."""
    actor.require(Permission.READ_AUDIT_LOG)
    _checked(query)
    wanted = await _record_filter(session, actor, query, zone)
    rows = await filter_records(
        session, wanted, limit=query.limit + 1, before_seq=_cursor(query.cursor)
    )
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    names = await usernames_of(
        session,
        [row.actor_id for row in rows if row.actor_id]
        + [row.target_id for row in rows if row.target_id and row.target_type == "user"],
    )
    events = [
        AuditEvent(
            seq=row.seq,
            at=row.at,
            action=row.action,
            action_words=action_words(row.action),
            account_id=row.account_id,
            actor_id=row.actor_id,
            actor_username=names.get(row.actor_id) if row.actor_id else None,
            actor_role=row.actor_role,
            actor_role_words=role_words(row.actor_role),
            target_type=row.target_type,
            target_type_words=target_words(row.target_type),
            target_id=row.target_id,
            target_username=(
                names.get(row.target_id) if row.target_id and row.target_type == "user" else None
            ),
            purpose=row.purpose,
            details=_details(row),
        )
        for row in rows
    ]
    every = reads_every_account(actor)
    actions = await actions_recorded(session, None if every else (actor.account_id or ""))
    return AuditLogPage(
        events=events,
        next_cursor=str(rows[-1].seq) if more and rows else None,
        every_account=every,
        actions=actions,
    )
