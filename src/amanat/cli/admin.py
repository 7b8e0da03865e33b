"""`amanat admin`: platform administrators, created by the operator.

The person's fields are validated as an invitation's are, with the operator's required fields
(`AMANAT_REQUIRE_IDENTITY_FIELDS`). A refusal is one line naming the option, never the value:
nothing the operator typed is printed or logged, only the one-time link.
"""

from __future__ import annotations

import asyncio

import typer

from amanat.core.db import unit_of_work
from amanat.core.errors import AmanatError, ConfigurationError
from amanat.core.runtime import open_runtime
from amanat.core.settings import load_settings
from amanat.identity.bootstrap import create_platform_admin
from amanat.people.validation import given_address

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


def create(
    *,
    username: str,
    email: str,
    full_name: str | None,
    phone: str | None,
    cnic: str | None,
    address_line1: str | None,
    address_line2: str | None,
    city: str | None,
    province: str | None,
    postal_code: str | None,
    country: str | None,
) -> None:
    """`amanat admin create` (its options and help are in `amanat.cli.main`)."""
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
