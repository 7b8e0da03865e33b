"""`amanat serve`: check everything, then serve HTTPS (or HTTP behind a trusted proxy)."""

from __future__ import annotations

import asyncio
import os

import typer
import uvicorn

from amanat.core.db import unit_of_work
from amanat.core.logging import configure_logging
from amanat.core.runtime import open_runtime
from amanat.core.settings import Settings, load_settings
from amanat.core.tls import TLS12_CIPHERS, server_ssl_context, tls_files
from amanat.identity.bootstrap import first_admin_link


def serve(*, host: str | None, port: int | None, workers: int | None, behind_proxy: bool) -> None:
    """`amanat serve`: check everything, then hand over to uvicorn until interrupted."""
    os.umask(0o077)  # the database, keys and certificates are for this user's eyes only
    overrides = {"host": host, "port": port, "workers": workers}
    if behind_proxy:
        overrides["behind_proxy"] = True
    # Worker processes read their settings from the environment: pass the flags on that way.
    for name, value in overrides.items():
        if value is not None:
            os.environ[f"AMANAT_{name.upper()}"] = (
                str(value).lower() if value is True else str(value)
            )
    settings = load_settings()
    configure_logging(settings.log_level)
    setup_link = asyncio.run(_preflight(settings))

    ssl_options: dict[str, object] = {}
    scheme = "http"
    if not settings.behind_proxy:
        files = tls_files(settings)
        server_ssl_context(files)
        ssl_options = {
            "ssl_certfile": str(files.cert),
            "ssl_keyfile": str(files.key),
            "ssl_ciphers": TLS12_CIPHERS,
        }
        scheme = "https"

    typer.echo(f"Amanat is serving at {scheme}://{_display_host(settings)}:{settings.port}/")
    typer.echo(f"Data directory: {settings.data_dir.resolve()}")
    if setup_link is not None:
        typer.echo(
            "No administrator yet. Set one up (once, within "
            f"{settings.first_admin_link_valid_hours} h) at:"
        )
        typer.echo(f"  {setup_link}")
    uvicorn.run(
        "amanat.web.app:create_app_from_environment",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        # The head of every request bounded in size and time (amanat.web.http_limits).
        http="amanat.web.http_limits:BoundedHttpToolsProtocol",
        **ssl_options,  # type: ignore[arg-type]
    )


async def _preflight(settings: Settings) -> str | None:
    """Check everything; return a first-administrator link while there is no administrator."""
    runtime = await open_runtime(settings)
    try:
        async with unit_of_work(runtime.database) as session:
            return await first_admin_link(session, settings)
    finally:
        await runtime.database.dispose()


def _display_host(settings: Settings) -> str:
    if settings.host in ("0.0.0.0", "::"):  # noqa: S104
        return "127.0.0.1"
    return f"[{settings.host}]" if ":" in settings.host else settings.host
