"""`amanat audit`: prove the audit log's hash chain intact; export its records as JSON lines.

Progress bars go to stderr, so stdout carries only the result (or the exported lines).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

from amanat.audit.chain import VerifyReport, verify_chain
from amanat.audit.reading import export_records
from amanat.core.runtime import open_runtime
from amanat.core.settings import Settings, load_settings


@contextmanager
def _progress_bar(description: str) -> Iterator[Callable[[int, int], None]]:
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


def _records(count: int) -> str:
    return f"{count} record" if count == 1 else f"{count} records"


def verify() -> None:
    """`amanat audit verify`: exit 1 naming the first record changed, removed or moved."""
    settings = load_settings()
    with _progress_bar("verifying audit chain") as progress:
        report = asyncio.run(_verify(settings, progress))
    if not report.ok:
        typer.echo(f"audit chain broken: {report.detail}")
        raise typer.Exit(1)
    typer.echo(f"audit chain intact: {_records(report.checked)}, head {report.head_hash}")


async def _verify(settings: Settings, progress: Callable[[int, int], None]) -> VerifyReport:
    runtime = await open_runtime(settings)
    try:
        return await verify_chain(runtime.database, progress=progress)
    finally:
        await runtime.database.dispose()


def export(*, output: Path | None, since: int) -> None:
    """`amanat audit export`: to `output`, created owner-only, or to stdout."""
    settings = load_settings()
    if output is None:
        count = _export_to(sys.stdout, settings, since)
    else:
        try:
            # Ids and actions only, but still the provider's record of who did what: owner-only.
            descriptor = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError as exc:
            raise typer.BadParameter(
                f"cannot write {output}: {exc.strerror}", param_hint="--output"
            ) from None
        with open(descriptor, "w", encoding="utf-8") as out:
            count = _export_to(out, settings, since)
    typer.echo(f"exported {_records(count)}", err=True)


def _export_to(out: TextIO, settings: Settings, since: int) -> int:
    with _progress_bar("exporting audit records") as progress:
        return asyncio.run(_export(settings, out, since, progress))


async def _export(
    settings: Settings, out: TextIO, since: int, progress: Callable[[int, int], None]
) -> int:
    runtime = await open_runtime(settings)
    try:
        async with runtime.database.sessionmaker() as session:
            return await export_records(session, out, since_seq=since, progress=progress)
    finally:
        await runtime.database.dispose()
