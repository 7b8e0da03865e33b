"""The migrations build exactly the schema the models describe, on every backend."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

from amanat.core.db import Database
from amanat.core.migrations import head_revision, schema_status
from amanat.schema import metadata


async def test_database_is_at_head(database: Database) -> None:
    status = await schema_status(database.engine)
    assert status.current == head_revision()
    assert status.is_current


async def test_models_and_migrations_agree(database: Database) -> None:
    def differences(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    async with database.engine.connect() as connection:
        diff = await connection.run_sync(differences)
    assert diff == []
