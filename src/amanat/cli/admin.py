"""`amanat admin`: platform administrators, created by the operator.

The person's fields are validated as an invitation's are, with the operator's required fields
(`AMANAT_REQUIRE_IDENTITY_FIELDS`). A refusal is one line naming the option, never the value:
nothing the operator typed is printed or logged, only the one-time link.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from amanat.core.db import unit_of_work
from amanat.core.errors import AmanatError, ConfigurationError
from amanat.core.runtime import open_runtime
from amanat.core.settings import load_settings
from amanat.identity.bootstrap import create_platform_admin
from amanat.people.validation import given_address

app = typer.Typer(help="Platform administrators.", no_args_is_help=True)

# The option that gives each field a refusal can name (the service's field names).
OPTIONS = {
    "username": "--username",
    "email": "--email",
    "full_name": "--full-name",
    "phone": "--phone",
    "cnic": "--cnic",
    "address": "--address-line1",
    "address.line1": "--address-line1",
    "address.line2": "--address-line2",
    "address.city": "--city",
    "address.province": "--province",
    "address.postal_code": "--postal-code",
    "address.country": "--country",
}


def _refusal(exc: AmanatError) -> ConfigurationError:
    """The service's refusal as one line, led by the option it is about."""
    field = exc.extra.get("field")
    option = OPTIONS.get(field) if isinstance(field, str) else None
    return ConfigurationError(f"{option}: {exc.message}" if option else exc.message, code=exc.code)


@app.command("create")
def create(
    username: Annotated[str, typer.Option(help="Login name of the new administrator.")],
    email: Annotated[str, typer.Option(help="Their email address.")],
    full_name: Annotated[
        str | None,
        typer.Option("--full-name", "--name", help="Their full name (default: the username)."),
    ] = None,
    phone: Annotated[
        str | None, typer.Option(help="Their phone number (a Pakistani mobile: +92 3XX XXXXXXX).")
    ] = None,
    cnic: Annotated[str | None, typer.Option(help="Their CNIC (#####-#######-#).")] = None,
    address_line1: Annotated[
        str | None, typer.Option("--address-line1", help="Postal address, first line.")
    ] = None,
    address_line2: Annotated[
        str | None, typer.Option("--address-line2", help="Postal address, second line.")
    ] = None,
    city: Annotated[str | None, typer.Option(help="Postal address: city.")] = None,
    province: Annotated[
        str | None, typer.Option(help="Postal address: province (in Pakistan) or region.")
    ] = None,
    postal_code: Annotated[str | None, typer.Option(help="Postal address: postal code.")] = None,
    country: Annotated[
        str | None, typer.Option(help="Postal address: two-letter country code (default PK).")
    ] = None,
) -> None:
    """Create a platform administrator and print a one-time link to set their password.

    Phone, CNIC and address are optional unless AMANAT_REQUIRE_IDENTITY_FIELDS requires them.
    """
    settings = load_settings()
    address = given_address(
        {
            "line1": address_line1,
            "line2": address_line2,
            "city": city,
            "province": province,
            "postal_code": postal_code,
            "country": country,
        }
    )

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
                    full_name=full_name or username,
                    phone=phone,
                    cnic=cnic,
                    address=address,
                )
            return link
        finally:
            await runtime.database.dispose()

    try:
        link = asyncio.run(_run())
    except AmanatError as exc:
        raise _refusal(exc) from None
    typer.echo(
        f"Administrator created. Set the password (once, within "
        f"{settings.first_admin_link_valid_hours} h) at:"
    )
    typer.echo(link)
