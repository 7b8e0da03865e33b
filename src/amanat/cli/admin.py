"""`amanat admin`: platform administrators, created by the operator."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from amanat.core.db import unit_of_work
from amanat.core.errors import AmanatError, ConfigurationError
from amanat.core.runtime import open_runtime
from amanat.core.settings import load_settings
from amanat.identity.bootstrap import create_platform_admin

app = typer.Typer(help="Platform administrators.", no_args_is_help=True)


@app.command("create")
def create(
    username: Annotated[str, typer.Option(help="Login name of the new administrator.")],
    email: Annotated[str, typer.Option(help="Their email address.")],
    name: Annotated[
        str | None, typer.Option(help="Their full name (default: the username).")
    ] = None,
) -> None:
    """Create a platform administrator and print a one-time link to set their password."""
    settings = load_settings()

    async def _run() -> str:
        runtime = await open_runtime(settings)
        try:
            async with unit_of_work(runtime.database) as session:
                _user, link = await create_platform_admin(
                    session,
                    runtime.keyring,
                    settings,
                    username=username,
                    email=email,
                    full_name=name or username,
                )
            return link
        finally:
            await runtime.database.dispose()

    try:
        link = asyncio.run(_run())
    except AmanatError as exc:
        raise ConfigurationError(exc.message, code=exc.code) from None
    typer.echo(
        f"Administrator created. Set the password (once, within "
        f"{settings.first_admin_link_valid_hours} h) at:"
    )
    typer.echo(link)
