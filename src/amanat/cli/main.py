"""The `amanat` command. Each domain adds its commands in a module of its own.

Operator errors print one line and exit 2; nothing prints a traceback to the terminal.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import typer

from amanat.cli import admin, audit, backup, check, db, keys, serve, users, worker
from amanat.core.errors import ConfigurationError

app = typer.Typer(
    name="amanat",
    help="Amanat: accounts, identity, support and communications, under our privacy policy.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)
app.command("serve")(serve.serve)
app.command("check")(check.check)
app.command("worker")(worker.worker)
app.add_typer(db.app, name="db")
app.add_typer(admin.app, name="admin")
app.add_typer(audit.app, name="audit")
app.add_typer(users.app, name="users")
app.add_typer(keys.app, name="keys")
app.command("backup")(backup.backup)


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
