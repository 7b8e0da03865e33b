"""`amanat users`: bulk work on a customer account's users, run by the operator.

`amanat users import FILE.csv --account ID` exits 0 when every row was imported, 1 when some
were rejected (listed, or written to `--report`), 2 when the file or an option is refused.
Without `--atomic` every chunk of 500 rows is committed as it is done (an interrupted import
keeps those; run the rest again: rows already there are refused as taken); with it, nothing is
kept unless every row is. Progress goes to stderr: a bar on a terminal, otherwise one line per
chunk ("imported 500 of 1,200 rows"); the summary and the rejected rows go to stdout.
"""

from __future__ import annotations

import asyncio
import csv
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from amanat.access.actors import OPERATOR
from amanat.core.db import unit_of_work
from amanat.core.errors import AmanatError, ConfigurationError
from amanat.core.runtime import open_runtime
from amanat.core.settings import Settings, load_settings
from amanat.identity.bulk_import import ImportReport, RejectedRow, import_users
from amanat.identity.import_file import MAX_IMPORT_BYTES, ImportRow, parse_import_file

REPORT_COLUMNS = ("line", "code", "message")
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection, V1.2.10).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def formula_safe(cell: str) -> str:
    """The cell as a spreadsheet shows it as text: a leading formula character gets a quote."""
    return f"'{cell}" if cell.startswith(FORMULA_TRIGGERS) else cell


def import_command(file: Path, *, account: str, atomic: bool, report: Path | None) -> None:
    """`amanat users import`: exit 1 if any row was rejected."""
    settings = load_settings()
    rows = _read_rows(file)
    if report is not None:
        _check_writable(report)
    with _progress_bar("importing users", "checked" if atomic else "imported") as progress:
        outcome = asyncio.run(_import(settings, account, rows, atomic, progress))
    summary = f"created {len(outcome.created)}, rejected {len(outcome.rejected)}"
    if not outcome.committed:
        summary += " (--atomic: nothing was imported)"
    typer.echo(summary)
    if report is not None:
        _write_report(report, outcome.rejected)
    elif outcome.rejected:
        _print_rejected(outcome.rejected)
    if outcome.rejected:
        raise typer.Exit(1)


def _read_rows(path: Path) -> list[ImportRow]:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_IMPORT_BYTES + 1)
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return parse_import_file(data)
    except AmanatError as exc:
        raise ConfigurationError(f"{path}: {exc.message}", code=exc.code) from None


def _check_writable(path: Path) -> None:
    """Refuse an unwritable report path before importing, not after."""
    folder = path.parent if str(path.parent) else Path()
    if path.is_dir() or not folder.is_dir() or not os.access(folder, os.W_OK):
        raise ConfigurationError(f"cannot write the report to {path}")


async def _import(
    settings: Settings,
    account_id: str,
    rows: list[ImportRow],
    atomic: bool,
    progress: Callable[[int, int], None],
) -> ImportReport:
    runtime = await open_runtime(settings)
    try:
        async with unit_of_work(runtime.database) as session:
            return await import_users(
                session,
                runtime.keyring,
                settings,
                OPERATOR,
                account_id=account_id,
                rows=rows,
                atomic=atomic,
                progress=progress,
                # Each chunk its own transaction: the server's requests get their turns too.
                after_chunk=None if atomic else session.commit,
            )
    except AmanatError as exc:
        raise ConfigurationError(exc.message, code=exc.code) from None
    finally:
        await runtime.database.dispose()


@contextmanager
def _progress_bar(description: str, verb: str) -> Iterator[Callable[[int, int], None]]:
    if not sys.stderr.isatty():
        # A log or a pipe gets plain lines a reader (or grep) can follow.
        def report(done: int, total: int) -> None:
            if done:
                print(f"{verb} {done:,} of {total:,} rows", file=sys.stderr, flush=True)

        yield report
        return
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    with bar:
        task = bar.add_task(description, total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance


def _write_report(path: Path, rejected: Sequence[RejectedRow]) -> None:
    try:
        # Usernames and reasons only, but about the account's people: owner-only.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        raise ConfigurationError(f"cannot write the report to {path}: {exc.strerror}") from None
    with open(descriptor, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(REPORT_COLUMNS)
        for row in rejected:
            writer.writerow([str(row.line), formula_safe(row.code), formula_safe(row.message)])


def _print_rejected(rejected: Sequence[RejectedRow]) -> None:
    table = Table(*REPORT_COLUMNS, title="Rejected rows")
    for row in rejected:
        # Text, not markup: a username like "[bold]" is shown as typed.
        table.add_row(str(row.line), Text(row.code), Text(row.message))
    Console(highlight=False).print(table)
