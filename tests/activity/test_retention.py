"""Minimization (policy §4): raw addresses are cut to their network after 30 days, security
events deleted after 180 days, devices after 400 days unseen; the worker runs this daily."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from amanat.activity.models import KnownDevice, SecurityEvent
from amanat.activity.retention import activity_retention_job, run_activity_retention
from amanat.comms.transports import EmlDirectoryTransport
from amanat.comms.worker import PeriodicJob, run_worker
from amanat.core.clock import utcnow
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.settings import Settings
from tests.activity.helpers import CHROME_WINDOWS, browser, devices_of, events_of, sign_in
from tests.support.identity import Person

pytestmark = pytest.mark.policy("§4 data minimization")

ADDRESS = "203.0.113.77"


async def _age_everything(database: Database, user_id: str, days: int) -> None:
    """Move the user's history and devices `days` into the past, through the ORM."""
    back = timedelta(days=days)
    async with database.sessionmaker() as session:
        events = await session.scalars(
            select(SecurityEvent).where(SecurityEvent.user_id == user_id)
        )
        for event in events:
            event.at -= back
        devices = await session.scalars(select(KnownDevice).where(KnownDevice.user_id == user_id))
        for device in devices:
            device.first_seen_at -= back
            device.last_seen_at -= back
        await session.commit()


async def _signed_in_history(app: Any, database: Database, person: Person) -> None:
    async with browser(app, ADDRESS, CHROME_WINDOWS) as http:
        await sign_in(http, person, database)


async def _retain(database: Database, settings: Settings) -> None:
    async with database.sessionmaker() as session:
        await run_activity_retention(session, utcnow(), settings=settings)
        await session.commit()


async def test_nothing_changes_within_thirty_days(
    app: Any, database: Database, settings: Settings, member_a: Person
) -> None:
    await _signed_in_history(app, database, member_a)
    await _age_everything(database, member_a.user_id, 29)
    await _retain(database, settings)
    events = [e for e in await events_of(database, member_a.user_id) if e.kind == "mfa"]
    assert [(e.ip, e.network) for e in events] == [(ADDRESS, "203.0.113.0/24")]
    (device,) = await devices_of(database, member_a.user_id)
    assert device.last_ip == ADDRESS


async def test_raw_addresses_are_cut_to_their_network_after_thirty_days(
    app: Any, database: Database, settings: Settings, member_a: Person
) -> None:
    await _signed_in_history(app, database, member_a)
    await _age_everything(database, member_a.user_id, 31)
    await _retain(database, settings)
    events = await events_of(database, member_a.user_id)
    recorded = [e for e in events if e.network is not None]
    assert recorded
    assert all(e.ip is None and e.network == "203.0.113.0/24" for e in recorded)
    assert all(e.browser == "Chrome" for e in recorded)  # the rest of the event stays
    (device,) = await devices_of(database, member_a.user_id)
    assert (device.last_ip, device.last_network) == (None, "203.0.113.0/24")


async def test_events_go_after_180_days_and_devices_after_400_unseen(
    app: Any, database: Database, settings: Settings, member_a: Person
) -> None:
    await _signed_in_history(app, database, member_a)
    await _age_everything(database, member_a.user_id, 181)
    await _retain(database, settings)
    assert await events_of(database, member_a.user_id) == []
    assert len(await devices_of(database, member_a.user_id)) == 1

    await _age_everything(database, member_a.user_id, 220)
    await _retain(database, settings)
    assert await devices_of(database, member_a.user_id) == []


async def test_the_periods_are_settings(
    app: Any, database: Database, settings: Settings, member_a: Person
) -> None:
    await _signed_in_history(app, database, member_a)
    await _age_everything(database, member_a.user_id, 8)
    strict = settings.model_copy(
        update={"activity_ip_truncate_days": 7, "activity_event_retention_days": 30}
    )
    await _retain(database, strict)
    assert all(e.ip is None for e in await events_of(database, member_a.user_id))
    defaults = Settings()
    assert (
        defaults.activity_ip_truncate_days,
        defaults.activity_event_retention_days,
        defaults.activity_device_retention_days,
    ) == (30, 180, 400)


async def test_the_worker_runs_retention_daily(
    app: Any,
    database: Database,
    settings: Settings,
    test_keyring: MasterKeyring,
    member_a: Person,
    tmp_path: Path,
) -> None:
    await _signed_in_history(app, database, member_a)
    await _age_everything(database, member_a.user_id, 181)
    job = activity_retention_job(settings)
    assert job.every == timedelta(days=1)
    runs: list[str] = []
    ran = asyncio.Event()

    async def counted(db: Database, now: Any) -> None:
        runs.append(now.isoformat())
        await job.run(db, now)
        ran.set()

    stop = asyncio.Event()
    task = asyncio.create_task(
        run_worker(
            database,
            test_keyring,
            EmlDirectoryTransport(tmp_path / "mail"),
            stop=stop,
            interval=0.02,
            jobs=[PeriodicJob(name=job.name, every=job.every, run=counted)],
        )
    )
    # The test's sessions share one connection with the worker's (the test transaction), so
    # nothing here reads the database until the worker has stopped.
    await asyncio.wait_for(ran.wait(), timeout=10)
    await asyncio.sleep(0.1)  # several delivery rounds later: still one run today
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert len(runs) == 1
    assert await events_of(database, member_a.user_id) == []
