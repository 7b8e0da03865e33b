"""Everything a server or worker process needs before it takes requests, checked in one place.

Each failure is a ConfigurationError with one line for the operator.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database, create_database, unit_of_work
from amanat.core.errors import ConfigurationError
from amanat.core.keys import database_has_canaries, load_master_keyring, verify_master_keyring
from amanat.core.migrations import schema_status, upgrade_database
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


async def prepare_database(settings: Settings, database: Database) -> None:
    """Bring the embedded SQLite schema up to date; refuse a PostgreSQL schema that is behind."""
    try:
        status = await schema_status(database.engine)
    except Exception as exc:  # driver errors vary; the operator needs one line either way
        raise ConfigurationError(
            f"cannot reach the database: {type(exc).__name__}", code="database_unreachable"
        ) from None
    if status.is_current:
        return
    if database.is_sqlite:
        await upgrade_database(database.engine)
        return
    raise ConfigurationError(
        f"the database schema is at {status.current or 'nothing'}, the code needs {status.head}; "
        "run: amanat db upgrade",
        code="schema_behind",
    )


async def open_runtime(settings: Settings) -> Runtime:
    """Data directory, database, schema and master key, each checked; the caller disposes."""
    if settings.is_sqlite:
        ensure_data_dir(settings)
    database = create_database(settings.resolved_database_url)
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
