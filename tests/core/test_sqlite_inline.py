"""The embedded database's driver runs statements in the event loop's thread and does all its
waiting asynchronously: behind a writer of this process, behind a writer of another process,
and up to the busy timeout, after which the caller hears "database is locked"."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from amanat.core.db import create_database
from amanat.core.sqlite_inline import InlineConnection, inline_connector


def _table(path: Path) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE IF NOT EXISTS counter (n INTEGER NOT NULL)")
        connection.execute("INSERT INTO counter VALUES (0)")


async def test_statements_run_without_a_thread_per_connection(tmp_path: Path) -> None:
    database = create_database(f"sqlite+aiosqlite:///{tmp_path / 'amanat.db'}")
    before = threading.active_count()
    try:
        async with database.engine.connect() as first, database.engine.connect() as second:
            for connection in (first, second):
                assert (await connection.execute(text("SELECT 1"))).scalar_one() == 1
            assert threading.active_count() == before
    finally:
        await database.dispose()


async def test_a_writer_waits_for_another_process_without_blocking_the_loop(
    tmp_path: Path,
) -> None:
    path = tmp_path / "amanat.db"
    _table(path)
    connection = await inline_connector(str(path), busy_timeout_s=5.0)()
    # Another process's writer: a plain sqlite3 connection holding the write lock.
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("UPDATE counter SET n = 41")
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    async def release_later() -> None:
        await asyncio.sleep(0.3)
        other.execute("COMMIT")

    ticker = asyncio.create_task(tick())
    releaser = asyncio.create_task(release_later())
    try:
        cursor = connection.cursor()
        await cursor.execute("BEGIN IMMEDIATE")
        await cursor.execute("UPDATE counter SET n = n + 1")
        await connection.commit()
        await cursor.execute("SELECT n FROM counter")
        assert await cursor.fetchall() == [(42,)]
    finally:
        ticker.cancel()
        await releaser
        await connection.close()
        other.close()
    # The loop kept running while the writer waited about 0.3 s for the lock.
    assert ticks >= 10


async def test_a_writer_gives_up_after_the_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "amanat.db"
    _table(path)
    connection = await inline_connector(str(path), busy_timeout_s=0.2)()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        started = asyncio.get_running_loop().time()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            await connection.cursor().execute("BEGIN IMMEDIATE")
        waited = asyncio.get_running_loop().time() - started
        assert 0.15 <= waited < 2.0
        assert not connection.in_transaction
    finally:
        other.execute("ROLLBACK")
        other.close()
        await connection.close()


async def test_writers_of_one_process_queue_in_arrival_order(tmp_path: Path) -> None:
    """Queued on the process's lock, not polling SQLite: the lock passes to the writer that
    asked first, as soon as the holder's transaction ends."""
    path = tmp_path / "amanat.db"
    _table(path)
    connect = inline_connector(str(path), busy_timeout_s=2.0)
    connections = [await connect() for _ in range(4)]
    order: list[str] = []

    async def write(connection: InlineConnection, name: str, hold: float) -> None:
        cursor = connection.cursor()
        await cursor.execute("BEGIN IMMEDIATE")
        order.append(f"{name} began")
        await asyncio.sleep(hold)
        await cursor.execute("UPDATE counter SET n = n + 1")
        await connection.commit()
        order.append(f"{name} committed")

    try:
        tasks = []
        for number, connection in enumerate(connections):
            tasks.append(asyncio.create_task(write(connection, f"w{number}", 0.05)))
            await asyncio.sleep(0.01)
        await asyncio.gather(*tasks)
        cursor = connections[0].cursor()
        await cursor.execute("SELECT n FROM counter")
        assert await cursor.fetchall() == [(4,)]
    finally:
        for connection in connections:
            await connection.close()
    assert order == [f"w{n} {step}" for n in range(4) for step in ("began", "committed")]


async def test_a_failed_statement_inside_a_transaction_keeps_the_lock_until_it_ends(
    tmp_path: Path,
) -> None:
    path = tmp_path / "amanat.db"
    _table(path)
    connect = inline_connector(str(path), busy_timeout_s=0.2)
    first, second = await connect(), await connect()
    try:
        cursor = first.cursor()
        await cursor.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError):
            await cursor.execute("UPDATE no_such_table SET n = 1")
        assert first.in_transaction
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            await second.cursor().execute("BEGIN IMMEDIATE")
        await first.rollback()
        await second.cursor().execute("BEGIN IMMEDIATE")  # free again once it ended
        await second.rollback()
    finally:
        await first.close()
        await second.close()


async def test_closing_a_connection_mid_transaction_frees_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "amanat.db"
    _table(path)
    connect = inline_connector(str(path), busy_timeout_s=0.2)
    first, second = await connect(), await connect()
    try:
        await first.cursor().execute("BEGIN IMMEDIATE")
        await first.close()
        await second.cursor().execute("BEGIN IMMEDIATE")
        await second.rollback()
    finally:
        await second.close()


async def test_reads_do_not_queue_behind_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "amanat.db"
    _table(path)
    connect = inline_connector(str(path), busy_timeout_s=0.2)
    writer, reader = await connect(), await connect()
    try:
        await writer.cursor().execute("BEGIN IMMEDIATE")
        await writer.cursor().execute("UPDATE counter SET n = 7")
        cursor = reader.cursor()
        await cursor.execute("BEGIN")
        await cursor.execute("SELECT n FROM counter")
        assert await cursor.fetchall() == [(0,)]  # WAL: the last committed state, at once
        await reader.rollback()
        await writer.commit()
    finally:
        await writer.close()
        await reader.close()


async def test_a_connection_closed_from_another_thread_frees_the_lock_on_its_loop(
    tmp_path: Path,
) -> None:
    """The pool may close a lost connection from a finalizer's thread: the lock is handed back
    to its own loop, and the next writer gets it."""
    path = tmp_path / "amanat.db"
    _table(path)
    connect = inline_connector(str(path), busy_timeout_s=1.0)
    first, second = await connect(), await connect()
    try:
        await first.cursor().execute("BEGIN IMMEDIATE")
        closer = threading.Thread(target=first.stop)
        closer.start()
        closer.join()
        await second.cursor().execute("BEGIN IMMEDIATE")
        assert second.in_transaction
        await second.rollback()
    finally:
        await second.close()
