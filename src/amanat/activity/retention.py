"""Data minimization for activity (policy §4): raw addresses are cut to their /24 or /48 network
after `activity_ip_truncate_days`, security events deleted after
`activity_event_retention_days`, devices after `activity_device_retention_days` unseen.

The periods are settings (one place, `core/settings.py`); the worker runs this daily. Each step
is one set-based statement and safe to repeat, so several workers may run it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.activity.models import KnownDevice, SecurityEvent
from amanat.comms.worker import PeriodicJob
from amanat.core.db import Database, unit_of_work
from amanat.core.logging import get_logger
from amanat.core.settings import Settings

RUN_EVERY = timedelta(days=1)

log = get_logger("amanat.activity")


@dataclass(frozen=True)
class RetentionPeriods:
    raw_address: timedelta
    events: timedelta
    devices: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPeriods:
        return cls(
            raw_address=timedelta(days=settings.activity_ip_truncate_days),
            events=timedelta(days=settings.activity_event_retention_days),
            devices=timedelta(days=settings.activity_device_retention_days),
        )


@dataclass(frozen=True)
class RetentionReport:
    addresses_truncated: int
    events_deleted: int
    devices_deleted: int


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


async def run_activity_retention(
    session: AsyncSession, now: datetime, *, settings: Settings
) -> RetentionReport:
    """Truncate old raw addresses, delete old events and long-unseen devices; what it did."""
    periods = RetentionPeriods.from_settings(settings)
    address_cutoff = now - periods.raw_address
    events = await session.execute(
        update(SecurityEvent)
        .where(SecurityEvent.at < address_cutoff, SecurityEvent.ip.is_not(None))
        .values(ip=None)
        .execution_options(synchronize_session=False)
    )
    devices = await session.execute(
        update(KnownDevice)
        .where(KnownDevice.last_seen_at < address_cutoff, KnownDevice.last_ip.is_not(None))
        .values(last_ip=None)
        .execution_options(synchronize_session=False)
    )
    deleted_events = await session.execute(
        delete(SecurityEvent)
        .where(SecurityEvent.at < now - periods.events)
        .execution_options(synchronize_session=False)
    )
    deleted_devices = await session.execute(
        delete(KnownDevice)
        .where(KnownDevice.last_seen_at < now - periods.devices)
        .execution_options(synchronize_session=False)
    )
    return RetentionReport(
        addresses_truncated=_count(events) + _count(devices),
        events_deleted=_count(deleted_events),
        devices_deleted=_count(deleted_devices),
    )


def activity_retention_job(settings: Settings) -> PeriodicJob:
    """The daily retention run, for the worker loop."""

    async def run(database: Database, now: datetime) -> None:
        async with unit_of_work(database) as session:
            report = await run_activity_retention(session, now, settings=settings)
        log.info(
            "activity_retention",
            addresses_truncated=report.addresses_truncated,
            events_deleted=report.events_deleted,
            devices_deleted=report.devices_deleted,
        )

    return PeriodicJob(name="activity_retention", every=RUN_EVERY, run=run)
