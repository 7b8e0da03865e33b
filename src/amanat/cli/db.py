"""`amanat db`: schema migrations."""

from __future__ import annotations

import asyncio

import typer

from amanat.core.db import create_database
from amanat.core.migrations import schema_status, upgrade_database
from amanat.core.runtime import ensure_data_dir
from amanat.core.settings import load_settings

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade() -> None:
    """Apply every pending migration."""
    settings = load_settings()
    if settings.is_sqlite:
        ensure_data_dir(settings)

    async def _run() -> tuple[str | None, str | None]:
        database = create_database(settings.resolved_database_url)
        try:
            before = await schema_status(database.engine)
            await upgrade_database(database.engine)
            after = await schema_status(database.engine)
        finally:
            await database.dispose()
        return before.current, after.current

    before, after = asyncio.run(_run())
    if before == after:
        typer.echo(f"Schema already at {after}.")
    else:
        typer.echo(f"Schema upgraded from {before or 'nothing'} to {after}.")


@app.command("status")
def status() -> None:
    """Show the schema revision of the database and of the code."""
    settings = load_settings()

    async def _run() -> tuple[str | None, str | None]:
        database = create_database(settings.resolved_database_url)
        try:
            found = await schema_status(database.engine)
        finally:
            await database.dispose()
        return found.current, found.head

    current, head = asyncio.run(_run())
    typer.echo(f"database: {current or 'empty'}")
    typer.echo(f"code:     {head}")
    if current != head:
        raise typer.Exit(1)
