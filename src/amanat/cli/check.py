"""`amanat check`: settings, database, master key and TLS, one line each, changing nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import typer

from amanat.core.db import create_database
from amanat.core.errors import ConfigurationError
from amanat.core.keys import database_has_canaries, load_master_keyring, verify_master_keyring
from amanat.core.migrations import schema_status
from amanat.core.settings import Settings, load_settings
from amanat.core.tls import TLSFiles, server_ssl_context


def check() -> None:
    """`amanat check`: one line per check; exit 1 if any fails."""
    try:
        settings = load_settings()
    except ConfigurationError as exc:
        _line("settings", False, exc.message)
        raise typer.Exit(1) from None
    _line(
        "settings", True, f"environment {settings.environment}, data directory {settings.data_dir}"
    )
    results = [
        _run("database", lambda: asyncio.run(_check_database_and_key(settings))),
        _run("tls", lambda: _check_tls(settings)),
    ]
    if not all(results):
        raise typer.Exit(1)


def _run(name: str, probe: Callable[[], str]) -> bool:
    try:
        detail = probe()
    except ConfigurationError as exc:
        _line(name, False, exc.message)
        return False
    _line(name, True, detail)
    return True


def _line(name: str, ok: bool, detail: str) -> None:
    typer.echo(f"{'ok  ' if ok else 'FAIL'} {name:<9} {detail}")


async def _check_database_and_key(settings: Settings) -> str:
    if settings.is_sqlite and not (settings.data_dir / "amanat.db").exists():
        return "embedded SQLite database will be created on first start"
    database = create_database(settings.resolved_database_url)
    try:
        try:
            status = await schema_status(database.engine)
        except Exception as exc:  # the driver's error types vary by backend
            raise ConfigurationError(f"cannot reach the database: {type(exc).__name__}") from None
        if not status.is_current and not (settings.is_sqlite and status.current is not None):
            raise ConfigurationError(
                f"schema at {status.current or 'nothing'}, code needs {status.head}; "
                "run: amanat db upgrade"
            )
        if status.is_empty:
            return "reachable, empty"
        async with database.sessionmaker() as session:
            has_data = await database_has_canaries(session)
            ring = load_master_keyring(settings, create=False) if has_data else None
            if ring is not None:
                await verify_master_keyring(session, ring, record_new_versions=False)
        key_note = (
            f"master key ring matches (current version {ring.current_version})"
            if ring
            else "no encrypted data yet"
        )
        return f"reachable, schema {status.current}; {key_note}"
    finally:
        await database.dispose()


def _check_tls(settings: Settings) -> str:
    if settings.behind_proxy:
        return "TLS terminated by the trusted proxy"
    if settings.tls_cert is not None and settings.tls_key is not None:
        server_ssl_context(TLSFiles(settings.tls_cert, settings.tls_key, generated=False))
        return f"certificate {settings.tls_cert} loads"
    cert = settings.data_dir / "tls" / "dev-cert.pem"
    key = settings.data_dir / "tls" / "dev-key.pem"
    if cert.exists() and key.exists():
        server_ssl_context(TLSFiles(cert, key, generated=True))
        return "development certificate loads (set AMANAT_TLS_CERT/KEY in production)"
    return "development certificate will be created on first start"
