"""Master key rotation: add a version, rewrap every data key under it, retire the old ones.

Every step may be interrupted (kill -9) and run again:

- a new version goes into the key file (atomically) before its canary is recorded, and both
  before anything is wrapped under it; a key file with several versions means a rotation is
  under way, and the next run continues it instead of adding yet another version;
- data keys are rewrapped in batches, each its own transaction, picking the keys whose
  version is not the current one, so a rerun starts where the last one stopped;
- old versions are retired (their canaries deleted, then the key file rewritten without
  them) only once nothing is left under them, in that order, so a crash in between leaves
  a key file that still opens everything.

Processes that loaded the ring before the new version was added cannot open what is wrapped
under it: stop them, or restart them right after the version is added.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import cast

from sqlalchemy import ColumnElement, Table, bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.core.batches import BatchOutcome, run_in_batches
from amanat.core.crypto import (
    DecryptionError,
    KeyringError,
    MasterKeyring,
    WrappedKey,
    rewrap_data_key,
    save_key_file,
)
from amanat.core.db import Database, unit_of_work
from amanat.core.errors import ConfigurationError
from amanat.core.keys import MasterKeyCanary, key_file_path, verify_master_keyring
from amanat.core.keystore import PersonKey
from amanat.core.settings import Settings

REWRAP_BATCH = 500
LOCK_FILE_NAME = "keys.lock"

Progress = Callable[[int, int], None]
# Counts what still needs a master version other than the current one ("MFA secrets": 3).
VersionUse = Callable[[AsyncSession, MasterKeyring], Awaitable[int]]


@dataclass(frozen=True)
class RewrapBatch:
    rewrapped: int
    unreadable: int
    # The last person id looked at: the next batch starts after it. None: nothing was left.
    last_person_id: str | None


@dataclass(frozen=True)
class RewrapReport:
    rewrapped: int
    unreadable: int


@dataclass(frozen=True)
class Retirement:
    retired: list[int]
    # What kept the old versions, and how many of each; empty when they were retired.
    still_used: dict[str, int] = field(default_factory=dict)


@contextmanager
def rotation_lock(settings: Settings) -> Iterator[None]:
    """One rotation at a time on this data directory: two would each add "version N+1".

    The lock is an flock, so a killed rotation leaves nothing to clean up.
    """
    path = settings.data_dir / LOCK_FILE_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise ConfigurationError(f"cannot open {path}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigurationError(
                "another key rotation is running on this data directory", code="rotation_running"
            ) from None
        yield
    finally:
        os.close(fd)


def rotation_in_progress(ring: MasterKeyring) -> bool:
    """Several versions in the ring: a rotation has begun and not yet retired the old ones."""
    return len(ring.versions) > 1


def add_master_key_version(settings: Settings, ring: MasterKeyring) -> MasterKeyring:
    """Write `ring` plus a fresh current version to the key file; the caller records its canary.

    A ring from `AMANAT_MASTER_KEY` cannot be written back: the operator adds the version.
    """
    if settings.master_key is not None:
        raise ConfigurationError(
            "AMANAT_MASTER_KEY is set, so amanat cannot add the new version itself: append "
            f"'{max(ring.versions) + 1}:<32 random bytes, URL-safe base64>' to it, restart every "
            "server and worker, then run: amanat keys rotate --rewrap-only",
            code="key_ring_from_environment",
        )
    rotated = ring.with_new_version()
    try:
        save_key_file(key_file_path(settings), rotated)
    except KeyringError as exc:
        raise ConfigurationError(exc.message, code=exc.code) from None
    return rotated


async def record_master_key_version(database: Database, ring: MasterKeyring) -> None:
    """Check the ring against the stored canaries and record one for each new version."""
    async with unit_of_work(database) as session:
        await verify_master_keyring(session, ring)


def _not_current(ring: MasterKeyring) -> ColumnElement[bool]:
    return PersonKey.master_version != ring.current_version


async def data_keys_to_rewrap(session: AsyncSession, ring: MasterKeyring) -> int:
    """How many data keys are wrapped under a version other than the current one."""
    count = await session.scalar(select(func.count(PersonKey.person_id)).where(_not_current(ring)))
    return int(count or 0)


async def data_keys_by_version(session: AsyncSession) -> dict[int, int]:
    """How many data keys each master version wraps."""
    rows = await session.execute(
        select(PersonKey.master_version, func.count(PersonKey.person_id)).group_by(
            PersonKey.master_version
        )
    )
    return {int(version): int(count) for version, count in rows}


async def rewrap_batch(
    session: AsyncSession, ring: MasterKeyring, *, after: str = "", limit: int = REWRAP_BATCH
) -> RewrapBatch:
    """Rewrap up to `limit` data keys (in person id order, after `after`) under the current
    version. A key that does not unwrap is counted and left as it is."""
    rows = (
        await session.execute(
            select(PersonKey.person_id, PersonKey.master_version, PersonKey.wrapped)
            .where(_not_current(ring), PersonKey.person_id > after)
            .order_by(PersonKey.person_id)
            .limit(limit)
        )
    ).all()
    changes: list[dict[str, object]] = []
    unreadable = 0
    for person_id, version, blob in rows:
        try:
            fresh = rewrap_data_key(ring, WrappedKey(version, blob), subject=person_id)
        except DecryptionError:
            unreadable += 1
            continue
        changes.append(
            {
                "key_person": person_id,
                "old_version": version,
                "old_wrapped": blob,
                "master_version": fresh.master_version,
                "wrapped": fresh.blob,
            }
        )
    if changes:
        # Compare-and-set: a key erased meanwhile stays erased; an UPDATE never brings it back.
        table = cast(Table, PersonKey.__table__)
        statement = (
            update(table)
            .where(
                table.c.person_id == bindparam("key_person"),
                table.c.master_version == bindparam("old_version"),
                table.c.wrapped == bindparam("old_wrapped"),
            )
            .values(master_version=bindparam("master_version"), wrapped=bindparam("wrapped"))
        )
        keystore = await session.connection(bind_arguments={"mapper": PersonKey})
        await keystore.execute(statement, changes)
    rewrapped = len(changes)
    await session.flush()
    return RewrapBatch(
        rewrapped=rewrapped,
        unreadable=unreadable,
        last_person_id=rows[-1].person_id if rows else None,
    )


async def rewrap_data_keys(
    database: Database,
    ring: MasterKeyring,
    *,
    batch_size: int = REWRAP_BATCH,
    progress: Progress | None = None,
) -> RewrapReport:
    """Rewrap every data key not under the current version, one transaction per batch."""
    async with database.sessionmaker() as session:
        total = await data_keys_to_rewrap(session, ring)

    async def step(session: AsyncSession, after: str) -> BatchOutcome:
        batch = await rewrap_batch(session, ring, after=after, limit=batch_size)
        looked_at = batch.rewrapped + batch.unreadable
        return BatchOutcome(batch.rewrapped, batch.unreadable, looked_at, batch.last_person_id)

    done = await run_in_batches(database, step, total=total, progress=progress)
    return RewrapReport(rewrapped=done.changed, unreadable=done.unreadable)


async def retire_old_versions(
    database: Database,
    settings: Settings,
    ring: MasterKeyring,
    uses: Mapping[str, VersionUse],
) -> tuple[MasterKeyring, Retirement]:
    """Retire every version but the current one if nothing needs them any more.

    `uses` names what else holds master-versioned data (each counts what is not yet under the
    current version); data keys are always checked. Returns the ring that is now in force.
    """
    old = sorted(v for v in ring.versions if v != ring.current_version)
    if not old:
        return ring, Retirement(retired=[])
    checks: dict[str, VersionUse] = {"data keys": data_keys_to_rewrap, **uses}
    still_used: dict[str, int] = {}
    async with database.sessionmaker() as session:
        for what, count_of in checks.items():
            count = await count_of(session, ring)
            if count:
                still_used[what] = count
    if still_used:
        return ring, Retirement(retired=[], still_used=still_used)
    # Canaries first: a key file that still holds a version without a canary is harmless (the
    # next start records one again); a canary whose version left the file stops every start.
    async with unit_of_work(database) as session:
        await session.execute(delete(MasterKeyCanary).where(MasterKeyCanary.version.in_(old)))
    retired = ring
    for version in old:
        retired = retired.without_version(version)
    if settings.master_key is None:
        try:
            save_key_file(key_file_path(settings), retired)
        except KeyringError as exc:
            raise ConfigurationError(exc.message, code=exc.code) from None
    return retired, Retirement(retired=old)
