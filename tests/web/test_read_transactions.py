"""A GET begins as a reader: on SQLite its transaction is deferred, so it runs beside a writer
instead of queueing for the database's one write lock; if it must write after someone else did,
it is run again once as a writer, and its answer is the same as if it had been a writer from
the start (issue 12: "a request that reads does not write, and does not take the write lock")."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database, create_database
from amanat.core.settings import Settings
from amanat.web.app import create_app
from amanat.web.deps import DbSession


@pytest.fixture
async def on_disk(tmp_path: Path) -> AsyncIterator[tuple[Database, Path]]:
    path = tmp_path / "probe.db"
    setup = sqlite3.connect(path)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE probe (n INTEGER)")
    setup.commit()
    setup.close()
    database = create_database(f"sqlite+aiosqlite:///{path}")
    try:
        yield database, path
    finally:
        await database.dispose()


def _app(settings: Settings, ring: MasterKeyring, database: Database, path: Path) -> FastAPI:
    app = create_app(settings, database=database, keyring=ring)
    attempts: list[str] = []
    app.state.attempts = attempts

    @app.get("/test/read")
    async def read_only(session: DbSession) -> dict[str, int]:
        # Another connection holds the write lock meanwhile: a reader does not wait for it.
        writer = sqlite3.connect(path, isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")
        try:
            count = await session.scalar(text("SELECT count(*) FROM probe"))
        finally:
            writer.execute("ROLLBACK")
            writer.close()
        return {"count": int(count or 0)}

    @app.get("/test/read-then-write")
    async def read_then_write(session: DbSession) -> dict[str, int]:
        attempts.append("reader" if not attempts else "writer")
        before = int(await session.scalar(text("SELECT count(*) FROM probe")) or 0)
        if len(attempts) == 1:
            # Someone else writes between this request's read and its write.
            other = sqlite3.connect(path, isolation_level=None)
            other.execute("INSERT INTO probe VALUES (1)")
            other.close()
        await session.execute(text("INSERT INTO probe VALUES (2)"))
        return {"before": before}

    @app.post("/test/write")
    async def write(session: DbSession) -> dict[str, int]:
        await session.execute(text("INSERT INTO probe VALUES (3)"))
        return {"written": 1}

    return app


async def _client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 1))
    return httpx.AsyncClient(transport=transport, base_url="https://testserver")


def _rows(path: Path) -> list[int]:
    reader = sqlite3.connect(path)
    try:
        return [row[0] for row in reader.execute("SELECT n FROM probe ORDER BY rowid")]
    finally:
        reader.close()


async def test_a_get_reads_beside_a_writer_without_waiting(
    settings: Settings, test_keyring: MasterKeyring, on_disk: tuple[Database, Path]
) -> None:
    database, path = on_disk
    async with await _client(_app(settings, test_keyring, database, path)) as client:
        answer = await asyncio.wait_for(client.get("/test/read"), timeout=3)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"count": 0}


async def test_a_get_that_must_write_after_another_writer_is_run_again_as_a_writer(
    settings: Settings, test_keyring: MasterKeyring, on_disk: tuple[Database, Path]
) -> None:
    database, path = on_disk
    app = _app(settings, test_keyring, database, path)
    async with await _client(app) as client:
        answer = await client.get("/test/read-then-write")
    assert answer.status_code == 200, answer.text
    assert app.state.attempts == ["reader", "writer"]
    # The first attempt kept nothing; the second saw the other write and made its own.
    assert answer.json() == {"before": 1}
    assert _rows(path) == [1, 2]


async def test_other_methods_write_as_before(
    settings: Settings, test_keyring: MasterKeyring, on_disk: tuple[Database, Path]
) -> None:
    database, path = on_disk
    async with await _client(_app(settings, test_keyring, database, path)) as client:
        answer = await client.post("/test/write")
    assert answer.status_code == 200, answer.text
    assert _rows(path) == [3]
