"""PostgreSQL's connection pool hands out live connections without a ping per checkout."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from amanat.core.db import create_engine_for

ADMIN_URL_ENV = "AMANAT_TEST_POSTGRES_URL"


@pytest.fixture
def admin_url() -> str:
    url = os.environ.get(ADMIN_URL_ENV)
    if url is None:
        pytest.skip("PostgreSQL backend not selected (AMANAT_TEST_BACKENDS)")
    return url


@pytest.fixture
async def admin(admin_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    yield engine
    await engine.dispose()


async def _backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _terminate(admin: AsyncEngine, pid: int) -> None:
    async with admin.connect() as connection:
        await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    # The server closes the socket; the event loop needs a moment to see it.
    await asyncio.sleep(0.2)


def _count_pings(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The real ping still runs; each call is counted."""
    pings: list[int] = []
    real_ping = engine.dialect.do_ping

    def counting_ping(dbapi_connection: Any) -> bool:
        pings.append(1)
        return real_ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counting_ping)
    return pings


async def test_a_connection_the_server_closed_is_replaced_at_checkout(
    admin_url: str, admin: AsyncEngine
) -> None:
    engine = create_engine_for(admin_url, pool_size=1, max_overflow=0)
    try:
        first = await _backend_pid(engine)
        await _terminate(admin, first)
        # No error reaches the caller: the pool saw the closed socket and reconnected.
        second = await _backend_pid(engine)
        assert second != first
    finally:
        await engine.dispose()


async def test_a_recently_used_connection_is_not_pinged(
    admin_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = create_engine_for(admin_url, pool_size=1, max_overflow=0)
    try:
        pings = _count_pings(engine, monkeypatch)
        first = await _backend_pid(engine)
        assert await _backend_pid(engine) == first  # the same pooled connection, reused
        assert pings == []
    finally:
        await engine.dispose()


async def test_a_connection_idle_past_the_limit_is_pinged_before_use(
    admin_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = create_engine_for(admin_url, pool_size=1, max_overflow=0, ping_after_idle_s=0.05)
    try:
        pings = _count_pings(engine, monkeypatch)
        first = await _backend_pid(engine)
        assert pings == []  # a new connection needs no ping
        await asyncio.sleep(0.1)
        assert await _backend_pid(engine) == first
        assert pings == [1]
    finally:
        await engine.dispose()
