"""Everything a server or worker process needs before it takes requests, checked in one place.

Each failure is a ConfigurationError with one line for the operator.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database, create_database, unit_of_work
from amanat.core.errors import ConfigurationError
from amanat.core.keys import database_has_canaries, load_master_keyring, verify_master_keyring
from amanat.core.migrations import (
    SchemaStatus,
    keystore_status,
    schema_status,
    upgrade_database,
    upgrade_keystore,
)
from amanat.core.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    database: Database
    keyring: MasterKeyring


def ensure_data_dir(settings: Settings) -> None:
    """Create the data directory (0700) on first start; refuse one others can read."""
    path = settings.data_dir
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(f"cannot create data directory {path}: {exc.strerror}") from None
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        # Tighten a directory we created under a permissive umask, but never one with data in it
        # that others may already have read: that needs the operator's eyes.
        if any(path.iterdir()):
            raise ConfigurationError(
                f"data directory {path} is accessible by other users; run: chmod 700 {path}",
                code="data_dir_insecure",
            )
        os.chmod(path, 0o700)


async def _prepare_schema(
    what: str,
    engine: AsyncEngine,
    status_of: Callable[[AsyncEngine], Awaitable[SchemaStatus]],
    upgrade: Callable[[AsyncEngine], Awaitable[None]],
) -> None:
    try:
        status = await status_of(engine)
    except Exception as exc:  # driver errors vary; the operator needs one line either way
        raise ConfigurationError(
            f"cannot reach the {what}: {type(exc).__name__}",
            code=f"{what.replace(' ', '_')}_unreachable",
        ) from None
    if status.is_current:
        return
    if engine.dialect.name == "sqlite":
        await upgrade(engine)
        return
    raise ConfigurationError(
        f"the {what} schema is at {status.current or 'nothing'}, the code needs {status.head}; "
        "run: amanat db upgrade",
        code="schema_behind",
    )


async def refuse_a_lost_key_store(settings: Settings, engine: AsyncEngine) -> None:
    """Refuse to start over with an empty embedded key store beside a database holding data.

    Opening the missing file would create it empty, and every person would be unreadable from
    then on, silently: a data backup restored without its key store looks exactly like this.
    """
    url = make_url(settings.resolved_keystore_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return
    path = Path(url.database)
    if await asyncio.to_thread(path.exists) or (await schema_status(engine)).is_empty:
        return
    async with AsyncSession(engine) as session:
        if await database_has_canaries(session):
            raise ConfigurationError(
                f"the key store {path} is missing but the database holds data; restore it "
                "(README: Keys and backups) or set AMANAT_KEYSTORE_URL to where it is",
                code="keystore_missing",
            )


async def prepare_database(settings: Settings, database: Database) -> None:
    """Bring embedded SQLite schemas up to date; refuse a PostgreSQL schema that is behind.

    The main database first, then the key store (when the database has one).
    """
    await _prepare_schema("database", database.engine, schema_status, upgrade_database)
    if database.keystore_engine is not None:
        await refuse_a_lost_key_store(settings, database.engine)
        await _prepare_schema(
            "key store", database.keystore_engine, keystore_status, upgrade_keystore
        )


def open_database(settings: Settings) -> Database:
    """Engines for the configured database and key store (nothing is connected yet)."""
    return create_database(
        settings.resolved_database_url, keystore_url=settings.resolved_keystore_url
    )


async def open_runtime(settings: Settings) -> Runtime:
    """Data directory, database, key store, schemas and master key, each checked; the caller
    disposes."""
    if settings.is_sqlite or settings.keystore_url is None:
        ensure_data_dir(settings)
    database = open_database(settings)
    try:
        await prepare_database(settings, database)
        async with unit_of_work(database) as session:
            has_data = await database_has_canaries(session)
            if settings.master_key is None:
                ensure_data_dir(settings)
            keyring = load_master_keyring(settings, create=not has_data)
            await verify_master_keyring(session, keyring)
    except BaseException:
        await database.dispose()
        raise
    return Runtime(settings=settings, database=database, keyring=keyring)
