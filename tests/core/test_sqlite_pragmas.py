"""The embedded SQLite database is opened the way the design promises: WAL, foreign keys
enforced, a page cache large enough for random blind-index pages, and SQLite's own busy
timeout off (waits happen asynchronously, see tests/core/test_sqlite_inline.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from amanat.core.db import (
    SQLITE_CACHE_KIB,
    SQLITE_MMAP_BYTES,
    create_database,
)


async def test_every_sqlite_connection_gets_the_project_pragmas(tmp_path: Path) -> None:
    database = create_database(f"sqlite+aiosqlite:///{tmp_path / 'amanat.db'}")
    try:
        async with database.engine.connect() as connection:
            read = {
                name: (await connection.execute(text(f"PRAGMA {name}"))).scalar_one()
                for name in ("journal_mode", "foreign_keys", "busy_timeout", "cache_size")
            }
            mmap = (await connection.execute(text("PRAGMA mmap_size"))).scalar_one()
    finally:
        await database.dispose()
    assert read == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        # SQLite's busy handler would sleep in the event loop's thread; the driver waits instead.
        "busy_timeout": 0,
        "cache_size": -SQLITE_CACHE_KIB,
    }
    # SQLite may cap mmap below what was asked (a compile-time maximum), never turn it off.
    assert 0 < mmap <= SQLITE_MMAP_BYTES


async def test_a_session_that_reads_then_writes_waits_for_another_writer(tmp_path: Path) -> None:
    """Two sign-ins at once: each reads, then writes. The second waits for the first instead
    of failing with "database is locked" (its transaction takes the write lock up front)."""
    database = create_database(f"sqlite+aiosqlite:///{tmp_path / 'amanat.db'}")
    try:
        async with database.engine.begin() as connection:
            await connection.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
            await connection.execute(text("INSERT INTO counter VALUES (0)"))

        async def read_then_write(pause: float) -> None:
            async with database.sessionmaker() as session:
                seen = (await session.execute(text("SELECT n FROM counter"))).scalar_one()
                await asyncio.sleep(pause)
                await session.execute(text("UPDATE counter SET n = :n"), {"n": seen + 1})
                await session.commit()

        first = asyncio.create_task(read_then_write(0.3))
        await asyncio.sleep(0.05)
        await asyncio.gather(first, read_then_write(0.0))
        async with database.engine.connect() as connection:
            final = (await connection.execute(text("SELECT n FROM counter"))).scalar_one()
    finally:
        await database.dispose()
    # Serialized, not lost: the second read saw the first one's write.
    assert final == 2
