"""The embedded SQLite database is opened the way the design promises: WAL, foreign keys
enforced, a busy timeout, and a page cache large enough for random blind-index pages."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from amanat.core.db import (
    SQLITE_BUSY_TIMEOUT_MS,
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
        "busy_timeout": SQLITE_BUSY_TIMEOUT_MS,
        "cache_size": -SQLITE_CACHE_KIB,
    }
    # SQLite may cap mmap below what was asked (a compile-time maximum), never turn it off.
    assert 0 < mmap <= SQLITE_MMAP_BYTES
