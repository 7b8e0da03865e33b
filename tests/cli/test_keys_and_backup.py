"""`amanat keys rotate`, `amanat keys reindex` and `amanat backup`, run as an operator would,
on the embedded setup; both key commands killed (kill -9) mid-way finish when run again.

A backup holds the data and never the keys; restored beside the live key store it reads, except
for people erased since the backup was taken (crypto-shredding).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from amanat.access.actors import OPERATOR
from amanat.core.crypto import (
    MasterKeyring,
    blind_index_key_from,
    compute_blind_index,
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
from amanat.people.blind_index import NAME_WORD_KIND, email_index, find_person_id_by_email
from amanat.people.models import Person
from amanat.people.personal_data import PersonData, read_person
from amanat.people.registry import PersonEntry, create_people, erase_person
from amanat.people.search import search_people
from amanat.people.validation import name_words
from tests.support.processes import AMANAT, amanat_env, assert_one_line_error, run_amanat

pytestmark = [pytest.mark.asvs("V11.1.1", "V11.2.2"), pytest.mark.policy("§4 encryption")]

NAMES = ["Ayesha Khan", "Bilal Ahmed", "Hina Malik"]


def _email(name: str) -> str:
    return name.lower().replace(" ", ".") + "@example.com"


def _settings(tmp_path: Path, **overrides: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", **overrides)  # type: ignore[arg-type]


async def _amanat(args: list[str], tmp_path: Path, **extra: str) -> CompletedProcess[str]:
    env = amanat_env(tmp_path / "data", **extra)
    return await asyncio.to_thread(run_amanat, args, cwd=tmp_path, env=env)


async def _account_with_people(settings: Settings, names: list[str]) -> tuple[str, list[str]]:
    """Start the embedded setup (data directory, key file, key store) and add people to a new
    account; the account's id and the people's ids, in the order of `names`."""
    runtime = await open_runtime(settings)
    try:
        async with unit_of_work(runtime.database) as session:
            account = await create_customer_account(session, OPERATOR, name="Acme Cloud Traders")
            created = await create_people(
                session,
                runtime.keyring,
                account_id=account.id,
                entries=[PersonEntry(full_name=name, email=_email(name)) for name in names],
            )
    finally:
        await runtime.database.dispose()
    ids = []
    for person in created:
        assert isinstance(person, PersonData), person
        ids.append(person.id)
    return account.id, ids


async def _people(settings: Settings, names: list[str] = NAMES) -> list[str]:
    _, ids = await _account_with_people(settings, names)
    return ids


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
    assert_one_line_error(result, "exists")
    assert existing.read_bytes() == b"keep me"


async def test_backup_of_postgresql_names_pg_dump(tmp_path: Path) -> None:
    result = await _amanat(
        ["backup", str(tmp_path / "x.db")],
        tmp_path,
        AMANAT_DATABASE_URL="postgresql+asyncpg://amanat@127.0.0.1:1/amanat",
    )
    assert_one_line_error(result, "pg_dump")
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


# Enough that a run at one per batch is still far from done when its first batch is reported.
KILLED_PEOPLE = 400


def _many_names(count: int) -> list[str]:
    return [f"Person Number{n:04d}" for n in range(count)]


async def _kill_after_first_batch(tmp_path: Path, args: list[str], phase: str) -> None:
    """Run `amanat ARGS` and kill -9 it as soon as it reports on stderr a batch of `phase`
    done (the plain progress lines it writes when stderr is no terminal)."""
    child = await asyncio.create_subprocess_exec(
        AMANAT,
        *args,
        cwd=tmp_path,
        env=amanat_env(tmp_path / "data"),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert child.stderr is not None
    seen: list[str] = []
    try:
        async with asyncio.timeout(60):
            while not seen or not seen[-1].startswith(f"{phase}: "):
                line = (await child.stderr.readline()).decode()
                assert line, f"amanat {' '.join(args)} ended before any {phase}: {seen}"
                seen.append(line)
        child.send_signal(signal.SIGKILL)  # kill -9, mid-way through the phase
    finally:
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        await asyncio.wait_for(child.wait(), timeout=30)
    assert child.returncode == -signal.SIGKILL, seen


async def test_rotation_killed_mid_way_completes_on_rerun(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    names = _many_names(KILLED_PEOPLE)
    ids = await _people(settings, names)
    keystore = settings.data_dir / "keys.db"

    await _kill_after_first_batch(
        tmp_path, ["keys", "rotate", "--batch-size", "1"], "rewrapping data keys"
    )
    rewrapped_before = _keys_under(keystore, 2)
    assert 0 < rewrapped_before < len(ids)

    result = await _amanat(["keys", "rotate"], tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Continuing the rotation to master key version 2." in result.stdout
    assert f"Rewrapped {len(ids) - rewrapped_before} data keys." in result.stdout
    assert "Retired master key version 1" in result.stdout
    assert _keys_under(keystore, 2) == len(ids)
    await _read_all(settings, ids, names)


def _index_rows(database_file: Path) -> tuple[dict[str, tuple[int, bytes]], set[tuple[str, bytes]]]:
    """Each person's index version and email index, and every (person, name word) digest."""
    with sqlite3.connect(database_file) as raw:
        people = {
            person_id: (version, digest)
            for person_id, version, digest in raw.execute(
                "SELECT id, index_key_version, email_index FROM person"
            )
        }
        words = set(raw.execute("SELECT person_id, digest FROM person_name_word"))
    raw.close()
    return people, words


def _assert_indexed_under(
    settings: Settings, ring: MasterKeyring, ids: list[str], names: list[str]
) -> None:
    """Every blind index is exactly what the current version makes, and nothing else is left."""
    key = blind_index_key_from(ring)
    people, words = _index_rows(settings.data_dir / "amanat.db")
    assert people == {
        person_id: (ring.current_version, email_index(ring, _email(name)))
        for person_id, name in zip(ids, names, strict=True)
    }
    assert words == {
        (person_id, compute_blind_index(key, NAME_WORD_KIND, word))
        for person_id, name in zip(ids, names, strict=True)
        for word in name_words(name)
    }


async def _found_with_the_new_version_alone(
    settings: Settings, account_id: str, names: list[str]
) -> list[list[str]]:
    """Search by email and by a word of the name with a ring holding only the newest version,
    so that only indexes made under it can match."""
    ring = load_master_keyring(settings, create=False)
    newest = ring
    for version in ring.versions:
        if version != ring.current_version:
            newest = newest.without_version(version)
    database = create_database(settings.resolved_database_url)
    found = []
    try:
        async with database.sessionmaker() as session:
            for name in names:
                by_email = await search_people(
                    session, newest, account_id=account_id, email=_email(name)
                )
                by_word = await search_people(
                    session, newest, account_id=account_id, name=name.split()[-1]
                )
                found.append(by_email + by_word)
    finally:
        await database.dispose()
    return found


def _add_master_key_version(settings: Settings) -> MasterKeyring:
    """What a rotation killed before it reindexed leaves: a new current version in the key file."""
    ring = load_master_keyring(settings, create=False).with_new_version()
    save_key_file(key_file_path(settings), ring)
    return ring


async def test_keys_reindex_recomputes_every_blind_index_under_the_current_version(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path)
    account_id, ids = await _account_with_people(settings, NAMES)
    ring = _add_master_key_version(settings)
    assert await _found_with_the_new_version_alone(settings, account_id, NAMES) == [[]] * 3

    result = await _amanat(["keys", "reindex", "--batch-size", "2"], tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == (
        f"Reindexed {len(ids)} people: look-ups by email, phone, CNIC and name now use master "
        "key version 2.\n"
    )
    assert f"reindexing people: {len(ids)}/{len(ids)}" in result.stderr
    _assert_indexed_under(settings, ring, ids, NAMES)
    found = await _found_with_the_new_version_alone(settings, account_id, NAMES)
    assert found == [[person_id, person_id] for person_id in ids]
    await _read_all(settings, ids)


async def test_reindex_killed_mid_way_completes_on_rerun(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    names = _many_names(KILLED_PEOPLE)
    account_id, ids = await _account_with_people(settings, names)
    ring = _add_master_key_version(settings)

    await _kill_after_first_batch(
        tmp_path, ["keys", "reindex", "--batch-size", "1"], "reindexing people"
    )
    people, _ = _index_rows(settings.data_dir / "amanat.db")
    reindexed_before = sum(1 for version, _ in people.values() if version == 2)
    assert 0 < reindexed_before < len(ids)

    result = await _amanat(["keys", "reindex"], tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"Reindexed {len(ids) - reindexed_before} people")
    _assert_indexed_under(settings, ring, ids, names)
    sample = [0, reindexed_before - 1, reindexed_before, len(ids) - 1]
    found = await _found_with_the_new_version_alone(
        settings, account_id, [names[n] for n in sample]
    )
    assert found == [[ids[n], ids[n]] for n in sample]


async def test_rotation_with_the_key_ring_in_the_environment(tmp_path: Path) -> None:
    ring = MasterKeyring.generate()
    env_value = format_master_key_env(ring)
    ids = await _people(_settings(tmp_path, master_key=env_value))

    refused = await _amanat(["keys", "rotate"], tmp_path, AMANAT_MASTER_KEY=env_value)
    assert_one_line_error(refused, "AMANAT_MASTER_KEY", "'2:", "amanat keys rotate --rewrap-only")

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
