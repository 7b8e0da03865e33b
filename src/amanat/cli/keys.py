"""`amanat keys`: rotate the master key, reindex the blind indexes, show where keys stand.

Both `rotate` and `reindex` work in batches, each its own transaction, and pick up only what
is not yet under the current master version: they may be interrupted (even kill -9) and run
again, and continue where they stopped. Progress goes to stderr (a bar on a terminal, a plain
line now and then elsewhere), results to stdout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from amanat.comms.outbox_rotation import queued_mail_not_current
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.keyrotation import (
    add_master_key_version,
    data_keys_by_version,
    record_master_key_version,
    retire_old_versions,
    rewrap_data_keys,
    rotation_in_progress,
    rotation_lock,
)
from amanat.core.keys import key_file_path
from amanat.core.runtime import Runtime, ensure_data_dir, open_runtime
from amanat.core.settings import Settings, load_settings
from amanat.identity.secret_rotation import mfa_secrets_not_current, reseal_mfa_secrets
from amanat.people.reindex import (
    people_by_index_version,
    readable_people_to_reindex,
    reindex_people,
)

# Without a terminal (a pipe, a log), a plain line at most this often says how far it got.
PLAIN_PROGRESS_EVERY_S = 1.0


@contextmanager
def _progress_bar(description: str) -> Iterator[Callable[[int, int], None]]:
    console = Console(stderr=True)
    if not console.is_terminal:
        yield _progress_lines(description)
        return
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    with bar:
        task = bar.add_task(description, total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance


def _progress_lines(description: str) -> Callable[[int, int], None]:
    """`description: done/total` on stderr after the first batch, then at most once every
    PLAIN_PROGRESS_EVERY_S, and at the end: a log shows the job alive and how far it got."""
    last_line_at: float | None = None

    def report(done: int, total: int) -> None:
        nonlocal last_line_at
        now = time.monotonic()
        due = last_line_at is None or now - last_line_at >= PLAIN_PROGRESS_EVERY_S
        if done == 0 or not (due or done >= total):
            return
        last_line_at = now
        typer.echo(f"{description}: {done}/{total}", err=True)

    return report


_SINGULAR = {
    "data keys": "data key",
    "MFA secrets": "MFA secret",
    "people": "person",
    "queued mails": "queued mail",
}


def _count(number: int, things: str) -> str:
    return f"1 {_SINGULAR[things]}" if number == 1 else f"{number} {things}"


def _versions(versions: list[int]) -> str:
    return ", ".join(str(v) for v in versions)


def _rotation_lock(settings: Settings) -> AbstractContextManager[None]:
    if settings.master_key is not None:
        return nullcontext()  # nothing on disk to race for; the database steps are idempotent
    ensure_data_dir(settings)
    return rotation_lock(settings)


def rotate(*, rewrap_only: bool, batch_size: int) -> None:
    """`amanat keys rotate`: exit 1 if an old version had to be kept; rerun to continue."""
    settings = load_settings()
    with _rotation_lock(settings):
        finished = asyncio.run(_rotate(settings, rewrap_only=rewrap_only, batch_size=batch_size))
    if not finished:
        raise typer.Exit(1)


async def _rotate(settings: Settings, *, rewrap_only: bool, batch_size: int) -> bool:
    runtime = await open_runtime(settings)
    try:
        ring = await _start_rotation(runtime, rewrap_only=rewrap_only)
        return await _finish_rotation(runtime, ring, batch_size=batch_size)
    finally:
        await runtime.database.dispose()


async def _start_rotation(runtime: Runtime, *, rewrap_only: bool) -> MasterKeyring:
    ring = runtime.keyring
    if rotation_in_progress(ring):
        typer.echo(f"Continuing the rotation to master key version {ring.current_version}.")
        return ring
    if rewrap_only:
        typer.echo(f"Master key version {ring.current_version} is the only one; nothing to add.")
        return ring
    ring = add_master_key_version(runtime.settings, ring)
    await record_master_key_version(runtime.database, ring)
    typer.echo(
        f"Master key version {ring.current_version} added to {key_file_path(runtime.settings)} "
        "and made current."
    )
    return ring


async def _finish_rotation(runtime: Runtime, ring: MasterKeyring, *, batch_size: int) -> bool:
    database, settings = runtime.database, runtime.settings
    with _progress_bar("rewrapping data keys") as progress:
        keys = await rewrap_data_keys(database, ring, batch_size=batch_size, progress=progress)
    typer.echo(f"Rewrapped {_count(keys.rewrapped, 'data keys')}.")
    with _progress_bar("resealing MFA secrets") as progress:
        sealed = await reseal_mfa_secrets(database, ring, batch_size=batch_size, progress=progress)
    typer.echo(f"Resealed {_count(sealed.resealed, 'MFA secrets')}.")
    await _reindex(database, ring, batch_size=batch_size)
    if keys.unreadable:
        typer.echo(
            f"{_count(keys.unreadable, 'data keys')} would not unwrap with the configured ring; "
            "those people cannot be read until the right key is restored."
        )
    if sealed.unreadable:
        typer.echo(
            f"{_count(sealed.unreadable, 'MFA secrets')} would not open; those users must "
            "set up their authenticator again."
        )
    old = sorted(v for v in ring.versions if v != ring.current_version)
    now, retirement = await retire_old_versions(
        database,
        settings,
        ring,
        {
            "MFA secrets": mfa_secrets_not_current,
            "queued mail": queued_mail_not_current,
            "people not yet reindexed": readable_people_to_reindex,
        },
    )
    if retirement.still_used:
        uses = ", ".join(f"{what}: {count}" for what, count in retirement.still_used.items())
        typer.echo(
            f"Kept master key version {_versions(old)}, still needed ({uses}); "
            "run `amanat keys rotate` again later (queued mail is delivered within minutes)."
        )
        return False
    if retirement.retired:
        where = (
            "remove it from AMANAT_MASTER_KEY and restart every server and worker"
            if settings.master_key is not None
            else f"removed from {key_file_path(settings)}"
        )
        typer.echo(f"Retired master key version {_versions(retirement.retired)}: {where}.")
    typer.echo(f"Master key version {now.current_version} is the only one in use.")
    return True


async def _reindex(database: Database, ring: MasterKeyring, *, batch_size: int) -> None:
    with _progress_bar("reindexing people") as progress:
        report = await reindex_people(database, ring, batch_size=batch_size, progress=progress)
    typer.echo(
        f"Reindexed {_count(report.reindexed, 'people')}: look-ups by email, phone, CNIC and "
        f"name now use master key version {ring.current_version}."
    )
    if report.unreadable:
        typer.echo(
            f"{_count(report.unreadable, 'people')} without a readable data key were left as "
            "they are (erased or unreadable; they are no longer found by look-ups once the old "
            "version retires)."
        )


def reindex(*, batch_size: int) -> None:
    """`amanat keys reindex`: the blind indexes alone, without a rotation."""
    settings = load_settings()
    # One at a time with a rotation, which reindexes too: both would rewrite the same rows.
    with _rotation_lock(settings):
        asyncio.run(_reindex_only(settings, batch_size))


async def _reindex_only(settings: Settings, batch_size: int) -> None:
    runtime = await open_runtime(settings)
    try:
        await _reindex(runtime.database, runtime.keyring, batch_size=batch_size)
    finally:
        await runtime.database.dispose()


def status() -> None:
    """`amanat keys status`: one line per master key version, then what is left behind."""
    settings = load_settings()
    lines = asyncio.run(_status(settings))
    typer.echo("\n".join(lines))


async def _status(settings: Settings) -> list[str]:
    runtime = await open_runtime(settings)
    try:
        ring = runtime.keyring
        async with runtime.database.sessionmaker() as session:
            keys = await data_keys_by_version(session)
            people = await people_by_index_version(session)
            mfa = await mfa_secrets_not_current(session, ring)
            mail = await queued_mail_not_current(session, ring)
    finally:
        await runtime.database.dispose()
    source = (
        "AMANAT_MASTER_KEY" if settings.master_key is not None else str(key_file_path(settings))
    )
    lines = [f"key ring: {source}, current version {ring.current_version}"]
    for version in sorted(set(ring.versions) | set(keys) | set(people)):
        state = "current" if version == ring.current_version else "old"
        if version not in ring.versions:
            state = "NOT IN THE RING"
        lines.append(
            f"version {version} ({state}): {_count(keys.get(version, 0), 'data keys')}, "
            f"{_count(people.get(version, 0), 'people')} indexed"
        )
    lines.append(
        f"under an old version: {_count(mfa, 'MFA secrets')}, {_count(mail, 'queued mails')}"
    )
    return lines
