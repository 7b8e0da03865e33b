"""The chain head is logged once a UTC day, by the worker loop of `amanat serve` and of
`amanat worker`, so a copy kept elsewhere can show the newest records were not cut off."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine
from structlog.testing import capture_logs

from amanat.audit.actors import OPERATOR
from amanat.audit.chain import chain_head, verify_chain
from amanat.audit.head_log import (
    CHAIN_HEAD_LOGGED,
    HEAD_LOG_CHECK_EVERY,
    log_chain_head_for_the_day,
    log_chain_head_if_due,
)
from amanat.audit.models import AuditRecord
from amanat.audit.records import record_event
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database, create_database, unit_of_work
from amanat.core.ids import new_id
from amanat.core.logging import configure_logging
from amanat.core.migrations import upgrade_database
from amanat.core.runtime import open_runtime
from amanat.core.settings import Settings
from amanat.people.registry import create_person
from amanat.web.app import create_app
from tests.support.processes import amanat_env

pytestmark = pytest.mark.asvs("V16.4.3")

MORNING = datetime(2031, 5, 1, 7, 30, tzinfo=UTC)
NAME = "Zarmeena Qadeer"
EMAIL = "zarmeena.qadeer@example.com"
PHONE = "+92 300 1234567"
CNIC = "35202-1234567-1"


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """The JSON lines the process writes, as an operator's log shipper would read them."""
    buffer = io.StringIO()
    configure_logging("info", stream=buffer)
    yield buffer
    configure_logging("info")


def _head_lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    return [line for line in lines if line["event"] == "audit_chain_head"]


async def _markers(database: Database) -> int:
    async with database.sessionmaker() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(AuditRecord)
            .where(AuditRecord.action == CHAIN_HEAD_LOGGED)
        )
    return int(count or 0)


async def test_the_job_logs_the_head_as_one_json_line_once_a_utc_day(
    database: Database, test_keyring: MasterKeyring, account_a: str, log_lines: io.StringIO
) -> None:
    async with unit_of_work(database) as session:
        person = await create_person(
            session,
            test_keyring,
            account_id=account_a,
            full_name=NAME,
            email=EMAIL,
            phone=PHONE,
            cnic=CNIC,
        )
        await record_event(
            session,
            actor=OPERATOR,
            action="person.reveal",
            account_id=account_a,
            target_type="person",
            target_id=person.id,
            purpose="identity_verification",
            details={"field": "cnic"},
        )
        seq, head_hash = await chain_head(session)

    await log_chain_head_if_due(database, MORNING)
    await log_chain_head_if_due(database, MORNING + timedelta(hours=16))  # same UTC day

    (line,) = _head_lines(log_lines)
    assert set(line) == {"event", "logger", "level", "time", "seq", "hash"}
    assert (line["seq"], line["hash"], line["level"]) == (seq, head_hash, "info")
    assert line["logger"] == "amanat.audit"
    for value in (NAME, "Zarmeena", "Qadeer", EMAIL, "1234567", "3520212345671"):
        assert value not in log_lines.getvalue()
    assert await _markers(database) == 1

    # The next UTC day logs again: the head now ends with the record of the first log.
    async with database.sessionmaker() as session:
        marked_seq, marked_hash = await chain_head(session)
    await log_chain_head_if_due(database, MORNING + timedelta(hours=17))
    first, second = _head_lines(log_lines)
    assert first == line
    assert (second["seq"], second["hash"]) == (marked_seq, marked_hash)
    assert marked_seq == seq + 1
    report = await verify_chain(database)
    assert report.ok, report.detail


async def test_the_record_of_a_logged_day_holds_ids_only(database: Database) -> None:
    async with database.sessionmaker() as session:
        seq, _ = await chain_head(session)
        with capture_logs():
            assert await log_chain_head_for_the_day(session, MORNING) is not None
            assert await log_chain_head_for_the_day(session, MORNING) is None
        marker = await session.scalar(
            select(AuditRecord).where(AuditRecord.action == CHAIN_HEAD_LOGGED)
        )
        assert marker is not None
        assert (marker.actor_role, marker.account_id, marker.target_id) == ("system", None, None)
        assert json.loads(marker.details) == {"day": "2031-05-01", "seq": seq}
        assert marker.at == MORNING
        with pytest.raises(ValueError, match="timezone"):
            await log_chain_head_for_the_day(session, datetime(2031, 5, 1))


@pytest.fixture
async def separate_database(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """A migrated database of its own, whose commits no other test sees."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'amanat.db'}"
        database = create_database(url)
        try:
            await upgrade_database(database.engine)
        finally:
            await database.dispose()
        yield url
        return
    admin_url = os.environ["AMANAT_TEST_POSTGRES_URL"]
    name = f"amanat_head_log_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = admin_url.rsplit("/", 1)[0] + f"/{name}"
        database = create_database(url)
        try:
            await upgrade_database(database.engine)
        finally:
            await database.dispose()
        yield url
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


async def test_a_second_worker_waits_and_then_finds_the_day_logged(
    backend: str, separate_database: str
) -> None:
    first_worker, second_worker = (create_database(separate_database) for _ in range(2))
    try:
        async with unit_of_work(first_worker) as session:
            await record_event(session, actor=OPERATOR, action="account.create", account_id=None)
        with capture_logs() as logs:
            async with first_worker.sessionmaker() as first:
                assert await log_chain_head_for_the_day(first, MORNING) is not None
                second = asyncio.create_task(log_chain_head_if_due(second_worker, MORNING))
                await asyncio.sleep(0.3)
                # Both backends make it wait: PostgreSQL on the row lock, SQLite on the write
                # lock its transactions take first (BEGIN IMMEDIATE, within the busy timeout).
                assert not second.done(), "the second worker did not wait for the lock"
                await first.commit()
            (outcome,) = await asyncio.wait_for(
                asyncio.gather(second, return_exceptions=True), timeout=10
            )
            assert outcome is None  # it found the day done once it had the lock
            # Either way, every later check that day finds the day done.
            for worker in (first_worker, second_worker):
                await log_chain_head_if_due(worker, MORNING + HEAD_LOG_CHECK_EVERY)
        assert [log["event"] for log in logs].count("audit_chain_head") == 1
        assert await _markers(first_worker) == 1
    finally:
        await first_worker.dispose()
        await second_worker.dispose()


async def _wait_for_marker(database: Database) -> None:
    async with asyncio.timeout(20):
        while True:
            if await _markers(database):
                return
            await asyncio.sleep(0.05)


async def test_amanat_serve_logs_the_head_from_its_in_process_worker(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path / "data"))
    with capture_logs() as logs:
        async with app.router.lifespan_context(app):
            database = app.state.amanat.database
            await _wait_for_marker(database)
            async with database.sessionmaker() as session:
                marker = await session.scalar(
                    select(AuditRecord).where(AuditRecord.action == CHAIN_HEAD_LOGGED)
                )
    assert marker is not None
    (line,) = [log for log in logs if log["event"] == "audit_chain_head"]
    # The head logged is the record just before the one that marks the day done.
    assert (line["seq"], line["hash"]) == (marker.seq - 1, marker.prev_hash)


async def _read_line_with(stream: asyncio.StreamReader, needle: str) -> str:
    async with asyncio.timeout(60):
        while True:
            raw = await stream.readline()
            assert raw, f"the worker ended before printing {needle!r}"
            if needle in raw.decode():
                return raw.decode()


async def test_amanat_worker_logs_the_head(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    runtime = await open_runtime(Settings(data_dir=data_dir))
    try:
        async with unit_of_work(runtime.database) as session:
            for _ in range(3):
                await record_event(
                    session, actor=OPERATOR, action="account.create", account_id=new_id()
                )
            seq, head_hash = await chain_head(session)
    finally:
        await runtime.database.dispose()
    child = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "amanat"),
        "worker",
        env=amanat_env(data_dir),
        cwd=tmp_path,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None
    try:
        line = json.loads(await _read_line_with(child.stdout, '"audit_chain_head"'))
        child.send_signal(signal.SIGTERM)
        _, errors = await asyncio.wait_for(child.communicate(), timeout=30)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    assert child.returncode == 0, errors.decode()
    assert (line["seq"], line["hash"]) == (seq, head_hash)
