"""Master key rotation: every data key rewrapped, data still readable, interruptions resumed,
blind indexes recomputed, the old version retired only when nothing needs it."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select

from amanat.comms.models import OutboxMessage
from amanat.comms.outbox import queue_email
from amanat.comms.outbox_rotation import queued_mail_not_current
from amanat.core.crypto import MasterKeyring, load_or_create_key_file, save_key_file
from amanat.core.db import Database, unit_of_work
from amanat.core.keyrotation import (
    VersionUse,
    data_keys_to_rewrap,
    record_master_key_version,
    retire_old_versions,
    rewrap_batch,
    rewrap_data_keys,
)
from amanat.core.keys import MasterKeyCanary, key_file_path
from amanat.core.settings import Settings
from amanat.identity.models import User
from amanat.identity.secret_rotation import mfa_secrets_not_current, reseal_mfa_secrets
from amanat.identity.secrets_at_rest import open_secret
from amanat.people.blind_index import find_person_id_by_email
from amanat.people.models import PersonKey
from amanat.people.personal_data import read_person
from amanat.people.registry import create_person, erase_person
from amanat.people.reindex import readable_people_to_reindex, reindex_people
from amanat.people.search import search_people
from tests.support.identity import make_account, make_user

pytestmark = [pytest.mark.asvs("V11.1.1", "V11.2.2"), pytest.mark.policy("§4 encryption")]

NAMES = ["Ayesha Khan", "Bilal Ahmed", "Hina Malik", "Omar Farooq", "Sara Ali"]

USES: dict[str, VersionUse] = {
    "MFA secrets": mfa_secrets_not_current,
    "queued mail": queued_mail_not_current,
    "people not yet reindexed": readable_people_to_reindex,
}


def _email(name: str) -> str:
    return name.lower().replace(" ", ".") + "@example.com"


async def _people(database: Database, ring: MasterKeyring, account_id: str) -> list[str]:
    async with unit_of_work(database) as session:
        return [
            (
                await create_person(
                    session, ring, account_id=account_id, full_name=name, email=_email(name)
                )
            ).id
            for name in NAMES
        ]


async def _rotated(database: Database, ring: MasterKeyring) -> MasterKeyring:
    rotated = ring.with_new_version()
    await record_master_key_version(database, rotated)
    return rotated


def _only_current(ring: MasterKeyring) -> MasterKeyring:
    """The ring once the old versions are retired."""
    for version in [v for v in ring.versions if v != ring.current_version]:
        ring = ring.without_version(version)
    return ring


async def _versions(database: Database) -> list[int]:
    async with database.sessionmaker() as session:
        return sorted(await session.scalars(select(PersonKey.master_version)))


async def test_rotation_rewraps_every_data_key_and_data_stays_readable(
    database: Database, test_keyring: MasterKeyring
) -> None:
    ids = await _people(database, test_keyring, await make_account(database, "Acme"))
    rotated = await _rotated(database, test_keyring)

    report = await rewrap_data_keys(database, rotated, batch_size=2)

    assert (report.rewrapped, report.unreadable) == (len(ids), 0)
    assert await _versions(database) == [rotated.current_version] * len(ids)
    async with database.sessionmaker() as session:
        for person_id, name in zip(ids, NAMES, strict=True):
            data = await read_person(session, _only_current(rotated), person_id)
            assert (data.full_name, data.email) == (name, _email(name))


async def test_an_interrupted_rotation_continues_where_it_stopped(
    database: Database, test_keyring: MasterKeyring
) -> None:
    ids = await _people(database, test_keyring, await make_account(database, "Acme"))
    rotated = await _rotated(database, test_keyring)
    async with unit_of_work(database) as session:
        first = await rewrap_batch(session, rotated, limit=2)
    # ... the process is killed here; a new one starts with the ring from the key file.
    assert first.rewrapped == 2
    assert (await _versions(database)).count(rotated.current_version) == 2

    report = await rewrap_data_keys(database, rotated, batch_size=2)

    assert report.rewrapped == len(ids) - 2
    assert await _versions(database) == [rotated.current_version] * len(ids)
    async with database.sessionmaker() as session:
        assert await data_keys_to_rewrap(session, rotated) == 0
        assert (await read_person(session, _only_current(rotated), ids[-1])).full_name == NAMES[-1]


async def test_reindex_after_rotation_makes_look_ups_work_with_the_new_key_alone(
    database: Database, test_keyring: MasterKeyring
) -> None:
    account_id = await make_account(database, "Acme")
    ids = await _people(database, test_keyring, account_id)
    rotated = await _rotated(database, test_keyring)
    await rewrap_data_keys(database, rotated)
    new_only = _only_current(rotated)
    async with database.sessionmaker() as session:
        # The ring still holds the old version: look-ups try it, so nobody goes missing...
        assert await find_person_id_by_email(session, rotated, _email(NAMES[0])) == ids[0]
        # ...but without it, people indexed under it are not found until reindexed.
        assert await find_person_id_by_email(session, new_only, _email(NAMES[0])) is None
        assert await readable_people_to_reindex(session, rotated) == len(ids)

    report = await reindex_people(database, rotated, batch_size=2)

    assert (report.reindexed, report.unreadable) == (len(ids), 0)
    async with database.sessionmaker() as session:
        for person_id, name in zip(ids, NAMES, strict=True):
            assert await find_person_id_by_email(session, new_only, _email(name)) == person_id
        found = await search_people(session, new_only, account_id=account_id, name="hina malik")
        assert found == [ids[2]]
        assert await readable_people_to_reindex(session, rotated) == 0


async def test_reindex_skips_people_whose_key_is_gone_and_they_hold_nothing_back(
    database: Database, test_keyring: MasterKeyring
) -> None:
    ids = await _people(database, test_keyring, await make_account(database, "Acme"))
    rotated = await _rotated(database, test_keyring)
    async with unit_of_work(database) as session:
        # A person row whose key commit failed: unreadable, and it must stay that way.
        await session.execute(delete(PersonKey).where(PersonKey.person_id == ids[0]))

    report = await reindex_people(database, rotated)

    assert (report.reindexed, report.unreadable) == (len(ids) - 1, 1)
    async with database.sessionmaker() as session:
        assert await readable_people_to_reindex(session, rotated) == 0
        assert await session.get(PersonKey, ids[0]) is None


async def test_mfa_secrets_are_resealed_under_the_new_version(
    database: Database, test_keyring: MasterKeyring, settings: Settings
) -> None:
    account_id = await make_account(database, "Acme")
    member = await make_user(
        database, test_keyring, settings, account_id=account_id, username="member-a"
    )
    rotated = await _rotated(database, test_keyring)
    async with database.sessionmaker() as session:
        assert await mfa_secrets_not_current(session, rotated) == 1

    first = await reseal_mfa_secrets(database, rotated, batch_size=1)
    again = await reseal_mfa_secrets(database, rotated, batch_size=1)

    assert (first.resealed, again.resealed) == (1, 0)
    async with database.sessionmaker() as session:
        assert await mfa_secrets_not_current(session, rotated) == 0
        user = await session.get(User, member.user_id)
        assert user is not None
        assert user.totp_secret is not None
        opened = open_secret(
            _only_current(rotated), user_id=user.id, column="totp_secret", sealed=user.totp_secret
        )
    assert opened == member.totp_secret


async def test_old_version_is_retired_only_when_nothing_needs_it(
    database: Database, test_keyring: MasterKeyring, settings: Settings
) -> None:
    ids = await _people(database, test_keyring, await make_account(database, "Acme"))
    async with unit_of_work(database) as session:
        mail = await queue_email(
            session, test_keyring, to="ayesha@example.com", subject="Hi", body="x", category="t"
        )
    rotated = await _rotated(database, test_keyring)
    settings.data_dir.mkdir(mode=0o700)
    save_key_file(key_file_path(settings), rotated)
    old = test_keyring.current_version

    ring, kept = await retire_old_versions(database, settings, rotated, USES)
    assert kept.retired == []
    assert kept.still_used == {
        "data keys": len(ids),
        "queued mail": 1,
        "people not yet reindexed": len(ids),
    }
    assert ring is rotated

    await rewrap_data_keys(database, rotated)
    await reindex_people(database, rotated)
    ring, kept = await retire_old_versions(database, settings, rotated, USES)
    assert kept.still_used == {"queued mail": 1}

    async with unit_of_work(database) as session:
        message = await session.get(OutboxMessage, mail)
        assert message is not None
        message.status = "sent"  # delivered: sent mail is never decrypted again
    ring, done = await retire_old_versions(database, settings, rotated, USES)

    assert done.retired == [old]
    assert sorted(ring.versions) == [rotated.current_version]
    assert sorted(load_or_create_key_file(key_file_path(settings), create=False).versions) == [
        rotated.current_version
    ]
    async with database.sessionmaker() as session:
        canaries = set(await session.scalars(select(MasterKeyCanary.version)))
        assert old not in canaries
        assert (await read_person(session, ring, ids[0])).full_name == NAMES[0]


async def test_an_erased_person_stays_erased_through_a_rotation(
    database: Database, test_keyring: MasterKeyring
) -> None:
    ids = await _people(database, test_keyring, await make_account(database, "Acme"))
    rotated = await _rotated(database, test_keyring)
    async with unit_of_work(database) as session:
        await rewrap_batch(session, rotated, limit=1)
        await erase_person(session, ids[-1])
    await rewrap_data_keys(database, rotated)
    await reindex_people(database, rotated)
    async with database.sessionmaker() as session:
        assert await session.get(PersonKey, ids[-1]) is None
        count = await session.scalar(select(func.count(PersonKey.person_id)))
    assert count == len(ids) - 1
