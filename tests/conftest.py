"""Shared fixtures: one migrated database per backend and worker; one rolled-back transaction
per test; an app and an HTTP client bound to that transaction.

Backends: `AMANAT_TEST_BACKENDS` (default "sqlite,postgres"). PostgreSQL is started by the test
run itself on loopback unless `AMANAT_TEST_POSTGRES_URL` points at one.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database, create_database, sessionmaker_for
from amanat.core.keys import verify_master_keyring
from amanat.core.migrations import upgrade_database
from amanat.core.settings import Settings
from amanat.web.app import create_app
from tests.support.postgres import PostgresServer, start_postgres

pytest_plugins = ["tests.support.identity_fixtures"]

BACKENDS = [
    b.strip()
    for b in os.environ.get("AMANAT_TEST_BACKENDS", "sqlite,postgres").split(",")
    if b.strip()
]
POSTGRES_URL_ENV = "AMANAT_TEST_POSTGRES_URL"

_server: PostgresServer | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _server
    is_xdist_worker = hasattr(config, "workerinput")
    if "postgres" in BACKENDS and not is_xdist_worker and not os.environ.get(POSTGRES_URL_ENV):
        _server = start_postgres()
        # Workers are spawned after this hook and inherit the environment.
        os.environ[POSTGRES_URL_ENV] = _server.url_for("postgres")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _server is not None:
        _server.stop()


def _worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


async def _fresh_postgres_database() -> str:
    admin_url = os.environ[POSTGRES_URL_ENV]
    name = f"amanat_test_{_worker_id()}"
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="session")
def test_keyring() -> MasterKeyring:
    return MasterKeyring.generate()


@pytest.fixture(scope="session")
async def migrated_engines(
    tmp_path_factory: pytest.TempPathFactory, test_keyring: MasterKeyring
) -> AsyncIterator[dict[str, AsyncEngine]]:
    """Each backend's database, built by running the migrations once per worker."""
    engines: dict[str, AsyncEngine] = {}
    for backend in BACKENDS:
        if backend == "sqlite":
            path = tmp_path_factory.mktemp("sqlite") / "amanat.db"
            url = f"sqlite+aiosqlite:///{path}"
        elif backend == "postgres":
            url = await _fresh_postgres_database()
        else:
            raise pytest.UsageError(f"unknown backend {backend!r} in AMANAT_TEST_BACKENDS")
        database = create_database(url)
        await upgrade_database(database.engine)
        async with database.sessionmaker() as session:
            await verify_master_keyring(session, test_keyring)
            await session.commit()
        engines[backend] = database.engine
    yield engines
    for engine in engines.values():
        await engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
async def database(
    backend: str, migrated_engines: dict[str, AsyncEngine]
) -> AsyncIterator[Database]:
    """The backend's database inside one transaction that is rolled back after the test."""
    engine = migrated_engines[backend]
    async with engine.connect() as connection:
        transaction = await connection.begin()
        maker = sessionmaker_for(connection, join_transaction_mode="create_savepoint")
        try:
            yield Database(engine=engine, sessionmaker=maker)
        finally:
            await transaction.rollback()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", environment="development")


@pytest.fixture
def app(settings: Settings, database: Database, test_keyring: MasterKeyring) -> Any:
    return create_app(settings, database=database, keyring=test_keyring)


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
        yield http


@pytest.fixture
def bare_app(settings: Settings, test_keyring: MasterKeyring) -> Any:
    """The app without a database, for tests of the HTTP stack alone (run once, not per backend)."""
    return create_app(settings, database=None, keyring=test_keyring)


@pytest.fixture
async def bare_client(bare_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=bare_app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
        yield http
