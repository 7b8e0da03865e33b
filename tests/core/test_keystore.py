"""The key store: wrapped data keys in a database of their own, reached through the same
session as the data, configured and migrated beside it."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database, create_database, create_engine_for, unit_of_work
from amanat.core.errors import ConfigurationError
from amanat.core.keystore import PersonKey
from amanat.core.migrations import keystore_head_revision, keystore_status
from amanat.core.runtime import open_runtime, prepare_database
from amanat.core.settings import Settings, load_settings
from amanat.people.registry import create_person
from tests.support.identity import make_account
from tests.support.processes import amanat_env, run_amanat

pytestmark = [pytest.mark.asvs("V11.1.1", "V11.2.2"), pytest.mark.policy("§4 encryption")]


async def test_a_persons_key_goes_to_the_key_store_and_nowhere_else(
    database: Database, test_keyring: MasterKeyring
) -> None:
    account_id = await make_account(database, "Acme")
    async with unit_of_work(database) as session:
        person = await create_person(
            session, test_keyring, account_id=account_id, full_name="Hina Malik", email="h@x.pk"
        )
        keystore = session.get_bind(PersonKey)
        assert keystore is not session.get_bind()
        found = await session.execute(
            text("SELECT master_version FROM person_key WHERE person_id = :id"),
            {"id": person.id},
            bind_arguments={"mapper": PersonKey.__mapper__},
        )
        assert found.scalar_one() == test_keyring.current_version


def test_key_store_defaults_to_its_own_file_in_the_data_directory(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    assert settings.resolved_keystore_url.endswith("/data/keys.db")
    assert settings.resolved_keystore_url != settings.resolved_database_url
    assert settings.keystore_is_sqlite


@pytest.mark.parametrize(
    ("database_url", "keystore_url"),
    [
        ("sqlite+aiosqlite:////srv/amanat/data.db", "sqlite+aiosqlite:////srv/amanat/data.db"),
        (
            "postgresql+asyncpg://amanat@db.internal/amanat",
            "postgresql://keys@db.internal:5432/amanat",
        ),
    ],
)
def test_key_store_inside_the_data_database_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str, keystore_url: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AMANAT_DATABASE_URL", database_url)
    monkeypatch.setenv("AMANAT_KEYSTORE_URL", keystore_url)
    with pytest.raises(ConfigurationError, match="apart from database_url"):
        load_settings()


def test_another_database_on_the_same_server_is_accepted(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        environment="production",
        database_url="postgresql+asyncpg://amanat@db.internal/amanat",
        keystore_url="postgresql://amanat_keys@db.internal/amanat_keys",
    )
    assert settings.resolved_keystore_url == (
        "postgresql+asyncpg://amanat_keys@db.internal/amanat_keys"
    )
    assert not settings.keystore_is_sqlite


def test_production_on_postgresql_needs_a_key_store_url(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AMANAT_ENVIRONMENT", "production")
    monkeypatch.setenv("AMANAT_DATABASE_URL", "postgresql+asyncpg://amanat@db.internal/amanat")
    with pytest.raises(ConfigurationError, match="keystore_url is required"):
        load_settings()


def test_unsupported_key_store_url_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AMANAT_KEYSTORE_URL", "mysql://keys@db/keys")
    with pytest.raises(ConfigurationError, match="AMANAT_KEYSTORE_URL"):
        load_settings()


async def test_first_start_creates_and_migrates_the_embedded_key_store(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    runtime = await open_runtime(settings)
    try:
        assert runtime.database.keystore_engine is not None
        status = await keystore_status(runtime.database.keystore_engine)
    finally:
        await runtime.database.dispose()
    assert status.current == keystore_head_revision()
    assert (tmp_path / "data" / "keys.db").is_file()


async def test_a_postgresql_key_store_that_is_behind_is_refused(tmp_path: Path) -> None:
    admin_url = os.environ.get("AMANAT_TEST_POSTGRES_URL")
    if admin_url is None:
        pytest.skip("PostgreSQL backend not selected (AMANAT_TEST_BACKENDS)")
    name = f"amanat_keys_behind_{os.getpid()}"
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        keystore_url = admin_url.rsplit("/", 1)[0] + f"/{name}"
        settings = Settings(data_dir=tmp_path / "data", keystore_url=keystore_url)
        database = create_database(
            f"sqlite+aiosqlite:///{tmp_path / 'amanat.db'}", keystore_url=keystore_url
        )
        try:
            with pytest.raises(ConfigurationError) as caught:
                await prepare_database(settings, database)
        finally:
            await database.dispose()
        assert caught.value.code == "schema_behind"
        assert caught.value.message.startswith("the key store schema is at nothing")
        assert "run: amanat db upgrade" in caught.value.message
        # The main database, SQLite, was brought up to date on the way.
        engine = create_engine_for(f"sqlite+aiosqlite:///{tmp_path / 'amanat.db'}")
        try:
            async with engine.connect() as conn:
                tables = await conn.run_sync(
                    lambda sync: sync.exec_driver_sql("SELECT name FROM sqlite_master").all()
                )
        finally:
            await engine.dispose()
        assert ("person",) in [tuple(row) for row in tables]
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def test_a_lost_embedded_key_store_is_refused_not_recreated_empty(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    runtime = await open_runtime(settings)
    await runtime.database.dispose()
    keys = tmp_path / "data" / "keys.db"
    keys.unlink()

    with pytest.raises(ConfigurationError) as caught:
        await open_runtime(settings)
    assert caught.value.code == "keystore_missing"
    assert str(keys) in caught.value.message
    assert not keys.exists()
    upgrade = await asyncio.to_thread(
        run_amanat, ["db", "upgrade"], cwd=tmp_path, env=amanat_env(tmp_path / "data")
    )
    assert upgrade.returncode == 2
    assert "key store" in upgrade.stderr
    assert not keys.exists()
