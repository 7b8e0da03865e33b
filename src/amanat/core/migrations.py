"""Alembic, driven from code: upgrade to head and compare the database with the code's head.

The migration scripts live in the repository's `migrations/` folder (packaged as
`amanat/migrations` in a wheel); the key store, a database of its own, has its own chain in
`migrations/keystore/` and its own `alembic_version` table. Alembic runs on a connection we
hand it, so the same functions work from the CLI, the server's start-up and the async test
fixtures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine


def migrations_dir() -> Path:
    packaged = Path(__file__).resolve().parent.parent / "migrations"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "migrations"


def keystore_migrations_dir() -> Path:
    return migrations_dir() / "keystore"


def _config(script_location: Path) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    return config


def alembic_config() -> Config:
    return _config(migrations_dir())


def keystore_alembic_config() -> Config:
    return _config(keystore_migrations_dir())


@dataclass(frozen=True)
class SchemaStatus:
    current: str | None
    head: str | None

    @property
    def is_current(self) -> bool:
        return self.current == self.head

    @property
    def is_empty(self) -> bool:
        return self.current is None


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def keystore_head_revision() -> str | None:
    return ScriptDirectory.from_config(keystore_alembic_config()).get_current_head()


def _upgrader(config: Config, target: str) -> Callable[[Connection], None]:
    def upgrade(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, target)

    return upgrade


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def upgrade_database(engine: AsyncEngine, target: str = "head") -> None:
    """Apply every migration up to `target` in one transaction where the backend allows it."""
    async with engine.begin() as conn:
        await conn.run_sync(_upgrader(alembic_config(), target))


async def upgrade_keystore(engine: AsyncEngine, target: str = "head") -> None:
    """The same for the key store's own chain."""
    async with engine.begin() as conn:
        await conn.run_sync(_upgrader(keystore_alembic_config(), target))


async def _revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


async def schema_status(engine: AsyncEngine) -> SchemaStatus:
    return SchemaStatus(current=await _revision(engine), head=head_revision())


async def keystore_status(engine: AsyncEngine) -> SchemaStatus:
    return SchemaStatus(current=await _revision(engine), head=keystore_head_revision())
