"""The `amanat` command: every command, option and help text, declared here.

Each command's body imports its implementation (`amanat.cli.<command>`) only when it runs:
those modules pull in the web app, SQLAlchemy, Alembic and the crypto stack, which `amanat
--help`, a typo or another command should not pay for. This module imports Typer and the
standard library only (`amanat.core.errors` is plain Python).

Operator errors print one line and exit 2; nothing prints a traceback to the terminal.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from amanat.core.errors import ConfigurationError

# `amanat.core.keyrotation.REWRAP_BATCH`, repeated so that help need not import SQLAlchemy;
# tests/cli/test_cli_startup.py keeps the two equal.
REWRAP_BATCH = 500

app = typer.Typer(
    name="amanat",
    help="Amanat: accounts, identity, support and communications, under our privacy policy.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)
db_app = typer.Typer(help="Database and key store schemas.", no_args_is_help=True)
admin_app = typer.Typer(help="Platform administrators.", no_args_is_help=True)
audit_app = typer.Typer(
    help="The audit log: verify its hash chain, export its records.", no_args_is_help=True
)
users_app = typer.Typer(help="Users of customer accounts.", no_args_is_help=True)
keys_app = typer.Typer(
    help="Master keys: rotate them, reindex the blind indexes, show where they stand.",
    no_args_is_help=True,
)

BatchSize = Annotated[
    int, typer.Option("--batch-size", min=1, max=10_000, help="Rows per transaction.")
]


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
    behind_proxy: Annotated[
        bool,
        typer.Option(
            "--behind-proxy",
            help="Serve plain HTTP to a TLS-terminating proxy listed in AMANAT_TRUSTED_PROXIES.",
        ),
    ] = False,
) -> None:
    """Serve Amanat (HTTPS with a development certificate unless one is configured)."""
    from amanat.cli import serve as command

    command.serve(host=host, port=port, workers=workers, behind_proxy=behind_proxy)


@app.command("check")
def check() -> None:
    """Check the configuration without changing anything; exit 1 if any check fails."""
    from amanat.cli import check as command

    command.check()


@app.command("worker")
def worker() -> None:
    """Deliver queued mail and run the daily retention jobs until interrupted."""
    from amanat.cli import worker as command

    command.worker()


app.add_typer(db_app, name="db")
app.add_typer(admin_app, name="admin")
app.add_typer(audit_app, name="audit")
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")


@app.command("backup")
def backup(
    destination: Annotated[
        Path,
        typer.Argument(
            metavar="DEST", dir_okay=False, help="The new backup file (must not exist yet)."
        ),
    ],
) -> None:
    """Copy the embedded database to DEST, online; keys are never in it (README: Keys and
    backups)."""
    from amanat.cli import backup as command

    command.backup(destination)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration, to the database and to the key store."""
    from amanat.cli import db as command

    command.upgrade()


@db_app.command("status")
def db_status() -> None:
    """Show the schema revisions of the database and the key store beside the code's; exit 1
    if either is behind."""
    from amanat.cli import db as command

    command.status()


@admin_app.command("create")
def admin_create(
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
    from amanat.cli import admin as command

    command.create(
        username=username,
        email=email,
        full_name=full_name,
        phone=phone,
        cnic=cnic,
        address_line1=address_line1,
        address_line2=address_line2,
        city=city,
        province=province,
        postal_code=postal_code,
        country=country,
    )


@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute the whole chain; exit 1 naming the first record changed, removed or moved."""
    from amanat.cli import audit as command

    command.verify()


@audit_app.command("export")
def audit_export(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", dir_okay=False, help="Write to this file, not stdout."),
    ] = None,
    since: Annotated[
        int, typer.Option("--since", min=0, help="Only records after this sequence number.")
    ] = 0,
) -> None:
    """Write the audit records as JSON lines, every column, oldest first."""
    from amanat.cli import audit as command

    command.export(output=output, since=since)


@users_app.command("import")
def users_import(
    file: Annotated[
        Path,
        typer.Argument(
            dir_okay=False,
            show_default=False,
            help="CSV in UTF-8 with the header username,full_name,email and optionally role, "
            "phone, cnic, address_line1, address_line2, city, province, postal_code, country; "
            "at most 10,000 rows and 5 MiB.",
        ),
    ],
    account: Annotated[
        str, typer.Option("--account", help="Id of the customer account to add the users to.")
    ],
    atomic: Annotated[
        bool,
        typer.Option("--atomic", help="Import nothing unless every row can be imported."),
    ] = False,
    report: Annotated[
        Path | None,
        typer.Option("--report", dir_okay=False, help="Write the rejected rows to this CSV file."),
    ] = None,
) -> None:
    """Invite one user per row of a CSV file into a customer account; each gets an invite mail."""
    from amanat.cli import users as command

    command.import_command(file, account=account, atomic=atomic, report=report)


@keys_app.command("rotate")
def keys_rotate(
    rewrap_only: Annotated[
        bool,
        typer.Option(
            "--rewrap-only",
            help="Add no version; finish moving everything to the current one (after adding "
            "a version to AMANAT_MASTER_KEY yourself).",
        ),
    ] = False,
    batch_size: BatchSize = REWRAP_BATCH,
) -> None:
    """Add a master key version, rewrap every data key under it, reseal MFA secrets, reindex
    the blind indexes, then retire the old version; exit 1 if an old version had to be kept.

    Stop `amanat serve` and `amanat worker` first (they read the key ring when they start),
    or restart them right after the new version is added. Rerun after any interruption: a
    ring with several versions is a rotation under way, and it continues without adding one.
    Until the old version retires, look-ups also try it, so people not yet reindexed are
    still found; it retires only once everyone is reindexed.
    """
    from amanat.cli import keys as command

    command.rotate(rewrap_only=rewrap_only, batch_size=batch_size)


@keys_app.command("reindex")
def keys_reindex(batch_size: BatchSize = REWRAP_BATCH) -> None:
    """Recompute the blind indexes of everyone indexed under an older master version.

    Look-ups find a person indexed under an older version only while that version is in the
    ring; `amanat keys rotate` reindexes before it retires one, this finishes the job alone.
    """
    from amanat.cli import keys as command

    command.reindex(batch_size=batch_size)


@keys_app.command("status")
def keys_status() -> None:
    """Show the master key versions and what each one holds."""
    from amanat.cli import keys as command

    command.status()


def fail(message: str, status: int = 2) -> NoReturn:
    sys.stderr.write(f"amanat: error: {message}\n")
    raise SystemExit(status)


def run(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        result = app(args=argv, prog_name="amanat", standalone_mode=False)
    except ConfigurationError as exc:
        fail(exc.message)
    except typer.Abort:
        fail("aborted", 130)
    except typer.TyperException as exc:
        format_message = getattr(exc, "format_message", None)
        message = format_message() if callable(format_message) else str(exc)
        fail(" ".join(str(message).split()))
    except KeyboardInterrupt:
        fail("interrupted", 130)
    raise SystemExit(result if isinstance(result, int) else 0)


if __name__ == "__main__":
    run()
