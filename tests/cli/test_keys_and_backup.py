"""`amanat keys rotate` and `amanat backup`, run as an operator would, on the embedded setup.

A backup holds the data and never the keys; restored beside the live key store it reads, except
for people erased since the backup was taken (crypto-shredding).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import time
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from amanat.core.crypto import (
    MasterKeyring,
    format_master_key_env,
    parse_master_key_env,
    save_key_file,
)
from amanat.core.db import create_database, unit_of_work
from amanat.core.errors import NotFound
from amanat.core.keys import key_file_path, load_master_keyring, verify_master_keyring
from amanat.core.runtime import open_runtime
from amanat.core.settings import Settings
from amanat.identity.accounts import create_customer_account
from amanat.identity.actors import OPERATOR
from amanat.people.models import Person
from amanat.people.service import create_person, erase_person, find_person_id_by_email, read_person
from tests.support.processes import AMANAT, amanat_env, run_amanat

pytestmark = [pytest.mark.asvs("V11.1.1", "V11.2.2"), pytest.mark.policy("§4 encryption")]

NAMES = ["Ayesha Khan", "Bilal Ahmed", "Hina Malik"]


def _email(name: str) -> str:
    return name.lower().replace(" ", ".") + "@example.com"


def _settings(tmp_path: Path, **overrides: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", **overrides)  # type: ignore[arg-type]


async def _amanat(args: list[str], tmp_path: Path, **extra: str) -> CompletedProcess[str]:
    env = amanat_env(tmp_path / "data", **extra)
    return await asyncio.to_thread(run_amanat, args, cwd=tmp_path, env=env)


def _one_line_error(result: CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("amanat: error: ")
    for fragment in fragments:
        assert fragment in lines[0]


async def _people(settings: Settings, names: list[str] = NAMES) -> list[str]:
    """Start the embedded setup (data directory, key file, key store) and add people."""
    runtime = await open_runtime(settings)
    try:
        async with unit_of_work(runtime.database) as session:
            account = await create_customer_account(session, OPERATOR, name="Acme Cloud Traders")
            return [
                (
                    await create_person(
                        session,
                        runtime.keyring,
                        account_id=account.id,
                        full_name=name,
                        email=_email(name),
                    )
                ).id
                for name in names
            ]
    finally:
        await runtime.database.dispose()


async def _read_all(settings: Settings, ids: list[str], names: list[str] = NAMES) -> None:
    runtime = await open_runtime(settings)
    try:
        async with runtime.database.sessionmaker() as session:
            for person_id, name in zip(ids, names, strict=True):
                assert (await read_person(session, runtime.keyring, person_id)).full_name == name
                found = await find_person_id_by_email(session, runtime.keyring, _email(name))
                assert found == person_id
    finally:
        await runtime.database.dispose()


def _key_versions(settings: Settings) -> list[int]:
    return sorted(load_master_keyring(settings, create=False).versions)


async def test_restored_backup_reads_with_its_keys_but_not_people_erased_since(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path)
    ids = await _people(settings)
    backup = tmp_path / "backups" / "amanat-backup.db"
    backup.parent.mkdir()

    result = await _amanat(["backup", str(backup)], tmp_path)
    assert result.returncode == 0, result.stderr
    assert backup.stat().st_mode & 0o777 == 0o600

    # Nothing of the keys is inside: no key table, no master key, no wrapped data key.
    with sqlite3.connect(backup) as raw:
        tables = {name for (name,) in raw.execute("SELECT name FROM sqlite_master")}
        with sqlite3.connect(settings.data_dir / "keys.db") as keys:
            wrapped = [blob for (blob,) in keys.execute("SELECT wrapped FROM person_key")]
    assert "person" in tables
    assert "person_key" not in tables
    content = backup.read_bytes()
    ring = load_master_keyring(settings, create=False)
    assert all(key not in content for key in ring.versions.values())
    assert len(wrapped) == len(ids)
    assert all(blob not in content for blob in wrapped)

    runtime = await open_runtime(settings)
    try:
        async with unit_of_work(runtime.database) as session:
            await erase_person(session, ids[0])
    finally:
        await runtime.database.dispose()

    # Restore: the backup, beside the live key store and master key.
    restored = create_database(
        f"sqlite+aiosqlite:///{backup}", keystore_url=settings.resolved_keystore_url
    )
    try:
        async with restored.sessionmaker() as session:
            await verify_master_keyring(session, ring, record_new_versions=False)
            assert await session.get(Person, ids[0]) is not None  # the ciphertext is there...
            with pytest.raises(NotFound):
                await read_person(session, ring, ids[0])  # ...and nothing can open it
            for person_id, name in zip(ids[1:], NAMES[1:], strict=True):
                assert (await read_person(session, ring, person_id)).full_name == name
    finally:
        await restored.dispose()


async def test_backup_never_overwrites_a_file(tmp_path: Path) -> None:
    await _people(_settings(tmp_path), NAMES[:1])
    existing = tmp_path / "existing.db"
    existing.write_bytes(b"keep me")
    result = await _amanat(["backup", str(existing)], tmp_path)
    _one_line_error(result, "exists")
    assert existing.read_bytes() == b"keep me"


async def test_backup_of_postgresql_names_pg_dump(tmp_path: Path) -> None:
    result = await _amanat(
        ["backup", str(tmp_path / "x.db")],
        tmp_path,
        AMANAT_DATABASE_URL="postgresql+asyncpg://amanat@127.0.0.1:1/amanat",
    )
    _one_line_error(result, "pg_dump")
    assert not (tmp_path / "x.db").exists()


async def test_keys_rotate_moves_everything_to_a_new_version_and_retires_the_old(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path)
    ids = await _people(settings)
    assert _key_versions(settings) == [1]

    result = await _amanat(["keys", "rotate", "--batch-size", "2"], tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Master key version 2 added" in result.stdout
    assert f"Rewrapped {len(ids)} data keys." in result.stdout
    assert f"Reindexed {len(ids)} people" in result.stdout
    assert "Retired master key version 1" in result.stdout
    assert _key_versions(settings) == [2]
    await _read_all(settings, ids)

    status = await _amanat(["keys", "status"], tmp_path)
    assert status.returncode == 0, status.stderr
    assert f"version 2 (current): {len(ids)} data keys, {len(ids)} people indexed" in (
        status.stdout
    )
    assert "version 1" not in status.stdout


async def test_rotation_killed_after_adding_the_version_continues_on_rerun(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path)
    ids = await _people(settings)
    # Where a kill -9 right after the key file was written leaves things.
    ring = load_master_keyring(settings, create=False)
    save_key_file(key_file_path(settings), ring.with_new_version())

    result = await _amanat(["keys", "rotate"], tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Continuing the rotation to master key version 2." in result.stdout
    assert "Retired master key version 1" in result.stdout
    assert _key_versions(settings) == [2]
    await _read_all(settings, ids)


def _keys_under(keystore: Path, version: int) -> int:
    with sqlite3.connect(keystore) as raw:
        (count,) = raw.execute(
            "SELECT count(*) FROM person_key WHERE master_version = ?", (version,)
        ).fetchone()
    return int(count)


async def test_rotation_killed_mid_way_completes_on_rerun(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    names = [f"Person Number{n:03d}" for n in range(150)]
    ids = await _people(settings, names)
    keystore = settings.data_dir / "keys.db"
    child = await asyncio.create_subprocess_exec(
        AMANAT,
        "keys",
        "rotate",
        "--batch-size",
        "1",
        cwd=tmp_path,
        env=amanat_env(settings.data_dir),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while _keys_under(keystore, 2) == 0 and child.returncode is None:
            assert time.monotonic() < deadline, "the rotation never started rewrapping"
            await asyncio.sleep(0.005)
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signal.SIGKILL)  # kill -9, mid-way through the data keys
    finally:
        await asyncio.wait_for(child.wait(), timeout=30)
    if child.returncode != -signal.SIGKILL:
        pytest.skip("the rotation finished before it could be killed")
    assert 0 < _keys_under(keystore, 2) < len(ids)

    result = await _amanat(["keys", "rotate"], tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Continuing the rotation to master key version 2." in result.stdout
    assert "Retired master key version 1" in result.stdout
    assert _keys_under(keystore, 2) == len(ids)
    await _read_all(settings, ids, names)


async def test_rotation_with_the_key_ring_in_the_environment(tmp_path: Path) -> None:
    ring = MasterKeyring.generate()
    env_value = format_master_key_env(ring)
    ids = await _people(_settings(tmp_path, master_key=env_value))

    refused = await _amanat(["keys", "rotate"], tmp_path, AMANAT_MASTER_KEY=env_value)
    _one_line_error(refused, "AMANAT_MASTER_KEY", "'2:", "amanat keys rotate --rewrap-only")

    # The operator adds version 2 to the environment, restarts, and finishes the rotation.
    rotated = format_master_key_env(ring.with_new_version())
    result = await _amanat(["keys", "rotate", "--rewrap-only"], tmp_path, AMANAT_MASTER_KEY=rotated)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Rewrapped {len(ids)} data keys." in result.stdout
    assert "remove it from AMANAT_MASTER_KEY" in result.stdout
    assert not key_file_path(_settings(tmp_path)).exists()
    # ...then removes version 1: everything opens without it.
    new_only = format_master_key_env(parse_master_key_env(rotated).without_version(1))
    await _read_all(_settings(tmp_path, master_key=new_only), ids)
