"""The migrations build exactly the schema the models describe, on every backend: the main
chain for the database, the key store's own chain for the key store."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, MetaData, inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from amanat.core.db import Database
from amanat.core.migrations import (
    head_revision,
    keystore_head_revision,
    keystore_status,
    schema_status,
)
from amanat.schema import keystore_metadata, metadata


def _keystore(database: Database) -> AsyncEngine:
    assert database.keystore_engine is not None
    return database.keystore_engine


async def _differences(engine: AsyncEngine, target: MetaData) -> list[Any]:
    def differences(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, target))

    async with engine.connect() as connection:
        return await connection.run_sync(differences)


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))


async def test_database_is_at_head(database: Database) -> None:
    status = await schema_status(database.engine)
    assert status.current == head_revision()
    assert status.is_current


async def test_key_store_is_at_its_own_head(database: Database) -> None:
    status = await keystore_status(_keystore(database))
    assert status.current == keystore_head_revision()
    assert status.is_current


async def test_models_and_migrations_agree(database: Database) -> None:
    assert await _differences(database.engine, metadata) == []


async def test_key_store_models_and_migrations_agree(database: Database) -> None:
    assert await _differences(_keystore(database), keystore_metadata) == []


async def test_wrapped_keys_live_only_in_the_key_store(database: Database) -> None:
    assert "person_key" not in metadata.tables
    assert "person_key" not in await _tables(database.engine)
    assert set(keystore_metadata.tables) == {"person_key"}
    assert "person_key" in await _tables(_keystore(database))
