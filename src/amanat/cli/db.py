"""`amanat db`: schema migrations of the database and of the key store."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import typer
from sqlalchemy.ext.asyncio import AsyncEngine

from amanat.core.db import create_engine_for
from amanat.core.migrations import (
    SchemaStatus,
    keystore_status,
    schema_status,
    upgrade_database,
    upgrade_keystore,
)
from amanat.core.runtime import ensure_data_dir, refuse_a_lost_key_store
from amanat.core.settings import Settings, load_settings

StatusOf = Callable[[AsyncEngine], Awaitable[SchemaStatus]]
Upgrade = Callable[[AsyncEngine], Awaitable[None]]


async def _upgrade(
    url: str, status_of: StatusOf, upgrade: Upgrade
) -> tuple[str | None, str | None]:
    engine = create_engine_for(url)
    try:
        before = await status_of(engine)
        await upgrade(engine)
        after = await status_of(engine)
    finally:
        await engine.dispose()
    return before.current, after.current


async def _status(url: str, status_of: StatusOf) -> SchemaStatus:
    engine = create_engine_for(url)
    try:
        return await status_of(engine)
    finally:
        await engine.dispose()


async def _refuse_a_lost_key_store(settings: Settings) -> None:
    engine = create_engine_for(settings.resolved_database_url)
    try:
        await refuse_a_lost_key_store(settings, engine)
    finally:
        await engine.dispose()


def upgrade() -> None:
    """`amanat db upgrade`: the database first, then the key store."""
    settings = load_settings()
    if settings.is_sqlite or settings.keystore_url is None:
        ensure_data_dir(settings)
    steps = [
        ("Schema", settings.resolved_database_url, schema_status, upgrade_database),
        ("Key store schema", settings.resolved_keystore_url, keystore_status, upgrade_keystore),
    ]
    for what, url, status_of, migrate in steps:
        if migrate is upgrade_keystore:
            asyncio.run(_refuse_a_lost_key_store(settings))
        before, after = asyncio.run(_upgrade(url, status_of, migrate))
        if before == after:
            typer.echo(f"{what} already at {after}.")
        else:
            typer.echo(f"{what} upgraded from {before or 'nothing'} to {after}.")


def status() -> None:
    """`amanat db status`: exit 1 if either schema is behind the code."""
    settings = load_settings()
    main = asyncio.run(_status(settings.resolved_database_url, schema_status))
    keys = asyncio.run(_status(settings.resolved_keystore_url, keystore_status))
    typer.echo(f"database:  {main.current or 'empty'} (code: {main.head})")
    typer.echo(f"key store: {keys.current or 'empty'} (code: {keys.head})")
    if not (main.is_current and keys.is_current):
        raise typer.Exit(1)
