"""Recognising devices: a long-lived random cookie plus the browser and OS the agent reports.

The cookie value is a 256-bit random token (`context.py`); only its SHA-256 is stored. The same
cookie seen with another browser or OS is another device (a copied cookie does not pass for the
original), so a device row is keyed by user, token hash, browser and OS.

A browser that comes without the cookie (cleared, private window, a script) but with the browser,
OS and device type of one of the user's devices, from the network that device was last seen on,
is taken for that device: its row takes the new cookie, which the sign-in sets. Without this, a
script signing in again and again made a device row (and a mail) each time. A user keeps at most
`MAX_DEVICES_PER_USER` devices; a new one beyond it pushes out the least recently seen.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.activity.context import RequestContext
from amanat.activity.models import KnownDevice
from amanat.audit.actors import AuditActor
from amanat.audit.records import record_event
from amanat.core.errors import NotFound
from amanat.core.ids import new_id

MAX_DEVICES_PER_USER = 50


@dataclass(frozen=True)
class DeviceView:
    """A device as a person or their admin sees it: no raw address, no token."""

    id: str
    browser: str
    browser_version: str
    os: str
    os_version: str
    device_type: str
    network: str | None
    first_seen_at: datetime
    last_seen_at: datetime
    current: bool


def device_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("ascii", "replace")).digest()


def _matches(row: KnownDevice, context: RequestContext | None) -> bool:
    if context is None or not context.captured or context.device_token is None:
        return False
    return (
        row.token_hash == device_digest(context.device_token)
        and row.browser == context.agent.browser
        and row.os == context.agent.os
    )


# Built once: every completed sign-in runs it, and building a statement costs more than running it.
_DEVICE_OF_USER = select(KnownDevice).where(
    KnownDevice.user_id == bindparam("user_id"),
    KnownDevice.token_hash == bindparam("token_hash"),
    KnownDevice.browser == bindparam("browser"),
    KnownDevice.os == bindparam("os"),
)


# The same browser on the same network, when the cookie is missing or unknown.
_SAME_BROWSER_ON_NETWORK = (
    select(KnownDevice)
    .where(
        KnownDevice.user_id == bindparam("user_id"),
        KnownDevice.browser == bindparam("browser"),
        KnownDevice.os == bindparam("os"),
        KnownDevice.device_type == bindparam("device_type"),
        KnownDevice.last_network == bindparam("network"),
    )
    .order_by(KnownDevice.last_seen_at.desc(), KnownDevice.id)
    .limit(1)
)


async def _find(
    session: AsyncSession, user_id: str, digest: bytes, context: RequestContext
) -> KnownDevice | None:
    found: KnownDevice | None = await session.scalar(
        _DEVICE_OF_USER,
        {
            "user_id": user_id,
            "token_hash": digest,
            "browser": context.agent.browser,
            "os": context.agent.os,
        },
    )
    return found


async def sight_device(
    session: AsyncSession, *, user_id: str, account_id: str, context: RequestContext, now: datetime
) -> tuple[KnownDevice, bool] | None:
    """The user's device this context comes from, and whether it was unseen until now.

    None when nothing was captured (collection switched off): no device can be recognised.
    """
    if not context.captured or context.device_token is None:
        return None
    digest = device_digest(context.device_token)
    agent = context.agent
    row = await _find(session, user_id, digest, context)
    if row is None and context.network is not None:
        row = await session.scalar(
            _SAME_BROWSER_ON_NETWORK,
            {
                "user_id": user_id,
                "browser": agent.browser,
                "os": agent.os,
                "device_type": agent.device_type,
                "network": context.network,
            },
        )
        if row is not None:
            # Re-issue the device's cookie: the row now answers to the one this sign-in sets.
            row.token_hash = digest
    if row is not None:
        row.browser_version, row.os_version = agent.browser_version, agent.os_version
        row.device_type = agent.device_type
        row.last_seen_at, row.last_ip, row.last_network = now, context.ip, context.network
        return row, False  # the update goes out with the unit of work's next flush
    row = KnownDevice(
        id=new_id(),
        account_id=account_id,
        user_id=user_id,
        token_hash=digest,
        browser=agent.browser,
        browser_version=agent.browser_version,
        os=agent.os,
        os_version=agent.os_version,
        device_type=agent.device_type,
        first_seen_at=now,
        last_seen_at=now,
        last_ip=context.ip,
        last_network=context.network,
    )
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        # The same new device signing in twice at once: the other request recorded it.
        existing = await _find(session, user_id, digest, context)
        if existing is None:
            raise
        return existing, False
    await _keep_most_recent(session, user_id)
    return row, True


async def _keep_most_recent(session: AsyncSession, user_id: str) -> None:
    """Forget the least recently seen devices of a user beyond `MAX_DEVICES_PER_USER`."""
    count = await session.scalar(
        select(func.count(KnownDevice.id)).where(KnownDevice.user_id == user_id)
    )
    if (count or 0) <= MAX_DEVICES_PER_USER:
        return
    oldest = select(KnownDevice.id).where(KnownDevice.user_id == user_id)
    oldest = oldest.order_by(KnownDevice.last_seen_at.desc(), KnownDevice.id)
    stale = list(await session.scalars(oldest.offset(MAX_DEVICES_PER_USER)))
    await session.execute(
        delete(KnownDevice)
        .where(KnownDevice.id.in_(stale))
        .execution_options(synchronize_session=False)
    )


async def touch_device(
    session: AsyncSession, *, device_id: str, context: RequestContext, now: datetime
) -> None:
    """Note that a device is in use now, from this address."""
    row = await session.get(KnownDevice, device_id)
    if row is not None:
        row.last_seen_at, row.last_ip, row.last_network = now, context.ip, context.network


async def list_devices(
    session: AsyncSession, *, user_id: str, context: RequestContext | None = None
) -> list[DeviceView]:
    """A user's devices, most recently seen first; `current` marks the one `context` is from."""
    rows = await session.scalars(
        select(KnownDevice)
        .where(KnownDevice.user_id == user_id)
        .order_by(KnownDevice.last_seen_at.desc(), KnownDevice.id)
    )
    return [
        DeviceView(
            id=row.id,
            browser=row.browser,
            browser_version=row.browser_version,
            os=row.os,
            os_version=row.os_version,
            device_type=row.device_type,
            network=row.last_network,
            first_seen_at=row.first_seen_at,
            last_seen_at=row.last_seen_at,
            current=_matches(row, context),
        )
        for row in rows
    ]


async def forget_devices(session: AsyncSession, *, user_id: str) -> int:
    """Forget every device of a user: the next sign-in from any of them counts as new."""
    result = await session.execute(
        delete(KnownDevice)
        .where(KnownDevice.user_id == user_id)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def forget_device(
    session: AsyncSession,
    *,
    actor: AuditActor,
    user_id: str,
    device_id: str,
    context: RequestContext | None = None,
) -> DeviceView:
    """Forget one device of a user (its next sign-in counts as new); another user's device, or
    no such device, is "not found". The view says whether it was the one `context` is from."""
    row = await session.scalar(
        select(KnownDevice).where(KnownDevice.id == device_id[:36], KnownDevice.user_id == user_id)
    )
    if row is None:
        raise NotFound("No such device.", code="device_not_found")
    view = DeviceView(
        id=row.id,
        browser=row.browser,
        browser_version=row.browser_version,
        os=row.os,
        os_version=row.os_version,
        device_type=row.device_type,
        network=row.last_network,
        first_seen_at=row.first_seen_at,
        last_seen_at=row.last_seen_at,
        current=_matches(row, context),
    )
    await session.delete(row)
    await record_event(
        session,
        actor=actor,
        action="device.forget",
        account_id=row.account_id,
        target_type="device",
        target_id=row.id,
    )
    await session.flush()
    return view
