"""Activity use cases other domains call: record security events, recognise the device of a
completed sign-in, and describe sessions, devices and sign-in history.

Callers pass the request context explicitly (`RequestContext`, built by `context.py` at the
route); nothing here reads a request. Authorization is the caller's: identity decides whose
history an actor may see (its `get_user_for`) and passes the user or account it settled on.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import cast

from sqlalchemy import Table, bindparam, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.activity.alerts import TEMPLATE_DIR, send_new_device_alert
from amanat.activity.context import EMPTY_CONTEXT, RequestContext
from amanat.activity.devices import DeviceView, forget_devices, list_devices, sight_device
from amanat.activity.devices import touch_device as _touch_device
from amanat.activity.models import KnownDevice, SecurityEvent
from amanat.activity.vocabulary import EVENT_KINDS, OUTCOMES, SESSION_OPENING, EventKind, Outcome
from amanat.core.clock import UTC, utcnow
from amanat.core.ids import new_id

__all__ = [
    "EMPTY_CONTEXT",
    "EVENT_KINDS",
    "OUTCOMES",
    "TEMPLATE_DIR",
    "DayCount",
    "DeviceView",
    "EventKind",
    "EventView",
    "Outcome",
    "RequestContext",
    "SessionActivity",
    "SignInRecord",
    "daily_sign_ins",
    "forget_devices",
    "forget_user_activity",
    "list_devices",
    "list_security_events",
    "note_session_use",
    "record_security_event",
    "record_sign_in",
    "send_new_device_alert",
    "session_activity",
]

EVENTS_LIST_MAX = 500
NEW_DEVICE_ALERTS_PER_HOUR = 3


@dataclass(frozen=True)
class SignInRecord:
    """What recording a sign-in step found: the device, and whether to tell the person."""

    event_id: str
    device_id: str | None
    new_device: bool
    alert: bool


@dataclass(frozen=True)
class SessionActivity:
    """The context of the sign-in that opened a session."""

    browser: str | None
    browser_version: str | None
    os: str | None
    os_version: str | None
    device_type: str | None
    network: str | None
    device_id: str | None
    signed_in_at: datetime


@dataclass(frozen=True)
class EventView:
    id: str
    kind: str
    outcome: str
    at: datetime
    # The raw address while it is kept (None after the truncation period); the network always.
    ip: str | None
    network: str | None
    browser: str | None
    browser_version: str | None
    os: str | None
    os_version: str | None
    device_type: str | None
    session_id: str | None


@dataclass(frozen=True)
class DayCount:
    day: date
    successes: int
    failures: int


_APPEND_EVENT = insert(cast(Table, SecurityEvent.__table__))


async def record_security_event(
    session: AsyncSession,
    *,
    kind: EventKind,
    user_id: str,
    account_id: str,
    context: RequestContext | None,
    outcome: Outcome = "success",
    session_id: str | None = None,
    device_id: str | None = None,
    at: datetime | None = None,
) -> str:
    """Append one event to a user's security history; its id.

    `context` is the request's, or None for an action someone else took on the user (an admin's
    suspension, say): the admin's own address and browser do not belong in the user's history.
    """
    if kind not in EVENT_KINDS or outcome not in OUTCOMES:
        raise ValueError("unknown security event kind or outcome")
    captured = context if context is not None and context.captured else None
    agent = captured.agent if captured is not None else None
    event_id = new_id()
    # What the caller changed so far is written first (the device this event names, say).
    await session.flush()
    # A plain insert, not the unit of work: nothing for the ORM to track, on every sign-in.
    await session.execute(
        _APPEND_EVENT,
        {
            "id": event_id,
            "account_id": account_id,
            "user_id": user_id,
            "session_id": session_id,
            "device_id": device_id,
            "kind": kind,
            "outcome": outcome,
            "at": at or utcnow(),
            "ip": captured.ip if captured is not None else None,
            "network": captured.network if captured is not None else None,
            "browser": agent.browser if agent else None,
            "browser_version": agent.browser_version if agent else None,
            "os": agent.os if agent else None,
            "os_version": agent.os_version if agent else None,
            "device_type": agent.device_type if agent else None,
        },
    )
    return event_id


async def record_sign_in(
    session: AsyncSession,
    *,
    kind: EventKind,
    user_id: str,
    account_id: str,
    context: RequestContext | None,
    session_id: str,
    complete: bool,
    first_sign_in: bool = False,
    alerts_per_hour: int = NEW_DEVICE_ALERTS_PER_HOUR,
) -> SignInRecord:
    """Record a successful sign-in step; when it completes the sign-in, recognise the device.

    An unseen device is recorded as a `new_device` event, and `alert` asks the caller to tell
    the person, except on their very first sign-in (right after accepting an invitation) and
    once `alerts_per_hour` new devices of theirs were already recorded in the past hour (a
    burst of sign-ins must not become a burst of mail; each one stays in the history).
    """
    now = utcnow()
    sighting = None
    if complete and context is not None:
        sighting = await sight_device(
            session, user_id=user_id, account_id=account_id, context=context, now=now
        )
    device_id = sighting[0].id if sighting else None
    new_device = bool(sighting and sighting[1])
    recent = (
        await _new_devices_since(session, user_id, now - timedelta(hours=1)) if new_device else 0
    )
    event_id = await record_security_event(
        session,
        kind=kind,
        user_id=user_id,
        account_id=account_id,
        context=context,
        session_id=session_id,
        device_id=device_id,
        at=now,
    )
    if new_device:
        await record_security_event(
            session,
            kind="new_device",
            user_id=user_id,
            account_id=account_id,
            context=context,
            session_id=session_id,
            device_id=device_id,
            at=now,
        )
    return SignInRecord(
        event_id=event_id,
        device_id=device_id,
        new_device=new_device,
        alert=new_device and not first_sign_in and recent < alerts_per_hour,
    )


_NEW_DEVICES_SINCE = select(func.count(SecurityEvent.id)).where(
    SecurityEvent.user_id == bindparam("user_id"),
    SecurityEvent.kind == "new_device",
    SecurityEvent.at >= bindparam("since"),
)


async def _new_devices_since(session: AsyncSession, user_id: str, since: datetime) -> int:
    """How many new devices of the user were recorded since `since`."""
    return int(await session.scalar(_NEW_DEVICES_SINCE, {"user_id": user_id, "since": since}) or 0)


# Built once: sessions in use run it once a minute each.
_DEVICE_OF_SESSION = (
    select(SecurityEvent.device_id)
    .where(
        SecurityEvent.session_id == bindparam("session_id"),
        SecurityEvent.device_id.is_not(None),
    )
    .limit(1)
)


async def note_session_use(
    session: AsyncSession, *, session_id: str, context: RequestContext, now: datetime
) -> None:
    """A session was used now (called at most once a minute per session): its device was seen."""
    if not context.captured:
        return
    device_id = await session.scalar(_DEVICE_OF_SESSION, {"session_id": session_id})
    if device_id is not None:
        await _touch_device(session, device_id=device_id, context=context, now=now)


async def session_activity(
    session: AsyncSession, session_ids: Collection[str]
) -> dict[str, SessionActivity]:
    """For each session id, the context of the sign-in step that opened it (when recorded)."""
    if not session_ids:
        return {}
    rows = await session.scalars(
        select(SecurityEvent)
        .where(
            SecurityEvent.session_id.in_(list(session_ids)),
            SecurityEvent.kind.in_(SESSION_OPENING),
            SecurityEvent.outcome == "success",
        )
        .order_by(SecurityEvent.at)
    )
    found: dict[str, SessionActivity] = {}
    for row in rows:
        assert row.session_id is not None
        found[row.session_id] = SessionActivity(
            browser=row.browser,
            browser_version=row.browser_version,
            os=row.os,
            os_version=row.os_version,
            device_type=row.device_type,
            network=row.network,
            device_id=row.device_id,
            signed_in_at=row.at,
        )
    return found


async def list_security_events(
    session: AsyncSession,
    *,
    user_id: str,
    kinds: Sequence[str] | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
) -> list[EventView]:
    """A user's security history, newest first, filtered by kind, outcome and time."""
    statement = select(SecurityEvent).where(SecurityEvent.user_id == user_id)
    if kinds:
        statement = statement.where(SecurityEvent.kind.in_(list(kinds)))
    if outcome:
        statement = statement.where(SecurityEvent.outcome == outcome)
    if since is not None:
        statement = statement.where(SecurityEvent.at >= since)
    if until is not None:
        statement = statement.where(SecurityEvent.at < until)
    statement = statement.order_by(SecurityEvent.at.desc(), SecurityEvent.id)
    rows = await session.scalars(statement.limit(max(1, min(limit, EVENTS_LIST_MAX))))
    return [
        EventView(
            id=row.id,
            kind=row.kind,
            outcome=row.outcome,
            at=row.at,
            ip=row.ip,
            network=row.network,
            browser=row.browser,
            browser_version=row.browser_version,
            os=row.os,
            os_version=row.os_version,
            device_type=row.device_type,
            session_id=row.session_id,
        )
        for row in rows
    ]


async def daily_sign_ins(
    session: AsyncSession, *, account_id: str, days: int, today: date | None = None
) -> list[DayCount]:
    """Per UTC day of the last `days` (today included): password sign-ins that succeeded, and
    sign-in steps (password or second factor) that failed, across the account."""
    last = today or utcnow().date()
    first = last - timedelta(days=days - 1)
    start = datetime.combine(first, time.min, tzinfo=UTC)
    if session.get_bind().dialect.name == "postgresql":
        day = func.date(func.timezone("UTC", SecurityEvent.at))
    else:
        day = func.date(SecurityEvent.at)  # stored as UTC text: its first ten characters
    rows = await session.execute(
        select(day.label("day"), SecurityEvent.kind, SecurityEvent.outcome, func.count())
        .where(
            SecurityEvent.account_id == account_id,
            SecurityEvent.at >= start,
            SecurityEvent.kind.in_(SESSION_OPENING),
        )
        .group_by(day, SecurityEvent.kind, SecurityEvent.outcome)
    )
    counts = {first + timedelta(days=n): [0, 0] for n in range(days)}
    for value, kind, outcome, count in rows.all():
        moment = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
        if moment not in counts:
            continue
        if outcome == "failure":
            counts[moment][1] += int(count)
        elif kind == "signin":
            counts[moment][0] += int(count)
    return [DayCount(day, ok, failed) for day, (ok, failed) in sorted(counts.items())]


async def forget_user_activity(session: AsyncSession, *, user_id: str) -> None:
    """Delete a user's whole security history and devices (when the user is removed)."""
    await session.execute(
        delete(SecurityEvent)
        .where(SecurityEvent.user_id == user_id)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        delete(KnownDevice)
        .where(KnownDevice.user_id == user_id)
        .execution_options(synchronize_session=False)
    )
