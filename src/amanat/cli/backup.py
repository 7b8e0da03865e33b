"""`amanat backup DEST`: an online copy of the embedded SQLite database, without any key.

Only the main database is copied. The key store (`keys.db`, the wrapped data keys) and the
master key never go into it: erasing a person deletes their data key, and from then on their
data in this backup cannot be decrypted either (crypto-shredding). To restore, the backup
needs the live key store and master key beside it. PostgreSQL is backed up with `pg_dump`
(README, "Keys and backups").
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from sqlalchemy.engine import make_url

from amanat.core.errors import ConfigurationError
from amanat.core.settings import Settings, load_settings

PAGES_PER_STEP = 1024
PG_DUMP_LINE = "pg_dump --format=custom --file=amanat.dump <AMANAT_DATABASE_URL without +asyncpg>"


def sqlite_database_path(settings: Settings) -> Path:
    """The embedded database file; a ConfigurationError for PostgreSQL or no file."""
    if not settings.is_sqlite:
        raise ConfigurationError(
            f"amanat backup copies the embedded SQLite database only; for PostgreSQL run: "
            f"{PG_DUMP_LINE} (README: Keys and backups)",
            code="backup_not_sqlite",
        )
    database = make_url(settings.resolved_database_url).database
    if not database or database == ":memory:" or not Path(database).is_file():
        raise ConfigurationError(f"no database to back up at {database}", code="backup_no_source")
    return Path(database)


def backup_sqlite(
    source: Path, destination: Path, progress: Callable[[int, int], None] | None = None
) -> None:
    """Copy `source` to a new file `destination` (mode 0600), consistent as of one moment.

    Refuses an existing `destination`. Writers carry on meanwhile: the copy reads one
    snapshot (a read transaction held for the whole copy; WAL lets writers continue).
    """
    try:
        # O_EXCL: never overwrite, never follow a planted symlink; 0600 from the first byte.
        os.close(os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        raise ConfigurationError(f"{destination} exists; choose a new file") from None
    except OSError as exc:
        raise ConfigurationError(f"cannot create {destination}: {exc.strerror}") from None
    try:
        _copy(source, destination, progress)
    except BaseException:
        for leftover in (destination, Path(f"{destination}-journal")):
            with contextlib.suppress(OSError):
                leftover.unlink()
        raise


def _copy(source: Path, destination: Path, progress: Callable[[int, int], None] | None) -> None:
    reader = sqlite3.connect(source, isolation_level=None)
    writer = sqlite3.connect(destination, isolation_level=None)
    try:
        # Hold one read transaction across every step: the backup then copies that snapshot
        # instead of starting over each time another process writes.
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM sqlite_master").fetchone()

        def step(_status: int, remaining: int, total: int) -> None:
            if progress is not None:
                progress(total - remaining, total)

        reader.backup(writer, pages=PAGES_PER_STEP, progress=step)
        reader.execute("COMMIT")
        # One self-contained file: no -wal or -shm beside it.
        writer.execute("PRAGMA journal_mode=DELETE").fetchone()
        (verdict,) = writer.execute("PRAGMA quick_check").fetchone()
        if verdict != "ok":
            raise ConfigurationError(f"the copy at {destination} failed its check: {verdict}")
    finally:
        writer.close()
        reader.close()


def backup(destination: Path) -> None:
    """`amanat backup DEST`: a progress bar on a terminal's stderr, the outcome on stdout."""
    settings = load_settings()
    source = sqlite_database_path(settings)
    console = Console(stderr=True)
    bar = Progress(
        TextColumn("backing up"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    with bar:
        task = bar.add_task("backup", total=None)
        backup_sqlite(
            source,
            destination,
            lambda done, total: bar.update(task, completed=done, total=total),
        )
    typer.echo(
        f"Backed up {source} to {destination}. It holds no keys: restoring it needs the key "
        "store and the master key, and people erased since are unreadable in it."
    )
