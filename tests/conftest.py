"""Shared fixtures: one migrated database and one migrated key store per backend and worker; one
rolled-back transaction on each per test; an app and an HTTP client bound to those transactions.

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
from amanat.core.migrations import upgrade_database, upgrade_keystore
from amanat.core.settings import Settings
from amanat.web.app import create_app
from tests.support.postgres import PostgresServer, start_postgres

pytest_plugins = [
    "pytester",
    "tests.support.identity_fixtures",
    "tests.support.personal_data_guard",
]

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


async def _fresh_postgres_database(prefix: str = "amanat_test") -> str:
    admin_url = os.environ[POSTGRES_URL_ENV]
    name = f"{prefix}_{_worker_id()}"
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
async def migrated_databases(
    tmp_path_factory: pytest.TempPathFactory, test_keyring: MasterKeyring
) -> AsyncIterator[dict[str, Database]]:
    """Each backend's database and key store, built by running the migrations once per worker."""
    databases: dict[str, Database] = {}
    for backend in BACKENDS:
        if backend == "sqlite":
            directory = tmp_path_factory.mktemp("sqlite")
            url = f"sqlite+aiosqlite:///{directory / 'amanat.db'}"
            keystore_url = f"sqlite+aiosqlite:///{directory / 'keys.db'}"
        elif backend == "postgres":
            url = await _fresh_postgres_database()
            keystore_url = await _fresh_postgres_database("amanat_keys_test")
        else:
            raise pytest.UsageError(f"unknown backend {backend!r} in AMANAT_TEST_BACKENDS")
        database = create_database(url, keystore_url=keystore_url)
        assert database.keystore_engine is not None
        await upgrade_database(database.engine)
        await upgrade_keystore(database.keystore_engine)
        async with database.sessionmaker() as session:
            await verify_master_keyring(session, test_keyring)
            await session.commit()
        databases[backend] = database
    yield databases
    for database in databases.values():
        await database.dispose()


@pytest.fixture(scope="session")
def migrated_engines(migrated_databases: dict[str, Database]) -> dict[str, AsyncEngine]:
    """Each backend's main database engine (for tests that need real, separate connections)."""
    return {backend: database.engine for backend, database in migrated_databases.items()}


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
async def database(
    backend: str, migrated_databases: dict[str, Database]
) -> AsyncIterator[Database]:
    """The backend's database and key store, each inside one transaction that is rolled back
    after the test; sessions reach both, as the application's do."""
    migrated = migrated_databases[backend]
    engine, keystore_engine = migrated.engine, migrated.keystore_engine
    assert keystore_engine is not None
    async with engine.connect() as connection, keystore_engine.connect() as keystore_connection:
        transaction = await connection.begin()
        keystore_transaction = await keystore_connection.begin()
        maker = sessionmaker_for(
            connection, keystore=keystore_connection, join_transaction_mode="create_savepoint"
        )
        try:
            yield Database(engine=engine, sessionmaker=maker, keystore_engine=keystore_engine)
        finally:
            await transaction.rollback()
            await keystore_transaction.rollback()


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
