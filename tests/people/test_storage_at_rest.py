"""The database file holds no personal data in the clear: not a name, an email, a phone, a
CNIC or an address, in any of their written forms (ASVS V14.2.4, V11.3.1; policy §4)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from amanat.core.crypto import MasterKeyring
from amanat.core.db import create_database
from amanat.core.migrations import upgrade_database, upgrade_keystore
from amanat.people.personal_data import read_person
from amanat.people.registry import create_person, update_person
from amanat.people.search import search_people
from tests.support.identity import make_account

pytestmark = [
    pytest.mark.asvs("V14.2.4", "V11.3.1"),
    pytest.mark.policy("§4 encryption"),
]

# Distinctive values, so that a hit can only be the value itself.
SEEDED: list[dict[str, Any]] = [
    {
        "full_name": "Zarminay Qizilbash",
        "email": "zarminay.qizilbash@example.org",
        "phone": "0300-7418529",
        "cnic": "35202-9517534-7",
        "address": {
            "line1": "House 77, Jasminegrove Lane",
            "line2": "Phase Quillwort",
            "city": "Gujranwala",
            "province": "Punjab",
            "postal_code": "52250",
        },
    },
    {
        "full_name": "Ubaidullah Xenophon Marwat",
        "email": "UX.Marwat@Example.NET",
        "phone": "+44 7507 482637",
        "cnic": "1730183264951",
        "address": {
            "line1": "Flat 9 Ravenscourt Mansions",
            "city": "Wolverhampton",
            "province": "West Midlands",
            "postal_code": "WV1 4QT",
            "country": "GB",
        },
    },
]
UPDATED_NAME = "Zarminay Yousafzai-Quraishi"
ACCOUNT_NAME = "At Rest Traders"


def _needles() -> list[str]:
    needles = [UPDATED_NAME, "yousafzai-quraishi"]
    for person in SEEDED:
        name, email = str(person["full_name"]), str(person["email"])
        needles += [name, *name.split(), *name.casefold().split(), email, email.casefold()]
        phone = str(person["phone"])
        digits = "".join(ch for ch in phone if ch.isdigit())
        needles += [phone, digits, digits.lstrip("0"), digits[-7:]]
        cnic = str(person["cnic"])
        bare = cnic.replace("-", "")
        needles += [cnic, bare, f"{bare[:5]}-{bare[5:12]}-{bare[12]}", bare[5:12]]
        address = person["address"]
        assert isinstance(address, dict)
        for part, value in address.items():
            # Short parts only in their JSON form: "GB" alone turns up in any binary file.
            short = part in ("province", "postal_code", "country")
            needles.append(f'"{value}"' if short else value)
    needles += ["+923007418529", "3007418529", "+447507482637", "7507482637"]
    return needles


async def test_database_file_holds_no_seeded_value(
    tmp_path: Path, test_keyring: MasterKeyring
) -> None:
    database = create_database(
        f"sqlite+aiosqlite:///{tmp_path / 'amanat.db'}",
        keystore_url=f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}",
    )
    assert database.keystore_engine is not None
    try:
        await upgrade_database(database.engine)
        await upgrade_keystore(database.keystore_engine)
        account = await make_account(database, ACCOUNT_NAME)
        ids = []
        async with database.sessionmaker() as session:
            for person in SEEDED:
                created = await create_person(
                    session,
                    test_keyring,
                    account_id=account,
                    **person,
                )
                ids.append(created.id)
            await session.commit()
        async with database.sessionmaker() as session:
            await update_person(session, test_keyring, ids[0], full_name=UPDATED_NAME)
            await session.commit()
        async with database.sessionmaker() as session:
            # The data is there and usable, through the key and the blind indexes only.
            assert (await read_person(session, test_keyring, ids[1])).cnic == "1730183264951"
            found = await search_people(
                session, test_keyring, account_id=account, cnic="17301-8326495-1"
            )
            assert found == [ids[1]]
        _assert_clean(tmp_path, "while the WAL holds the writes")
    finally:
        await database.dispose()
    _assert_clean(tmp_path, "after the WAL was checkpointed into the file")


def _assert_clean(directory: Path, moment: str) -> None:
    files = sorted(directory.glob("*.db*"))  # the data, the key store, their WAL files
    assert files, "no database file was written"
    content = b"".join(file.read_bytes() for file in files)
    assert len(content) > 10_000
    # A control: the account's name is not personal data and is stored as it is, so the
    # search below would find a value if one were there.
    assert ACCOUNT_NAME.encode() in content
    for needle in _needles():
        encoded = needle.encode("utf-8")
        assert encoded not in content, f"a seeded value is in the database file {moment}"
        assert needle.encode("utf-16-le") not in content, f"UTF-16 seeded value ({moment})"


def test_the_needles_cover_every_field() -> None:
    needles = _needles()
    assert "3520295175347" in needles
    assert "35202-9517534-7" in needles
    assert "Gujranwala" in needles
    assert '"52250"' in needles
    assert "zarminay.qizilbash@example.org" in needles
