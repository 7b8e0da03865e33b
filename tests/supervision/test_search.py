"""Admins find people of their own account by an exact email, phone, CNIC or whole word of
the name, through blind indexes; other accounts' people are never found (ASVS V8.2.2)."""

from __future__ import annotations

import pytest
from sqlalchemy import delete

from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.errors import InvalidInput
from amanat.people.models import PersonKey
from amanat.people.registry import create_person
from amanat.people.search import find_people, search_people
from tests.support.identity import make_account

pytestmark = [pytest.mark.asvs("V8.2.2"), pytest.mark.policy("§4 access controls")]


async def _seed(database: Database, ring: MasterKeyring) -> tuple[str, str, dict[str, str]]:
    first = await make_account(database, "Search Traders")
    second = await make_account(database, "Other Traders")
    async with database.sessionmaker() as session:
        ayesha = await create_person(
            session,
            ring,
            account_id=first,
            full_name="Ayesha Noor Khan",
            email="ayesha@example.com",
            phone="0300-1234567",
            cnic="35202-1234567-1",
        )
        imran = await create_person(
            session,
            ring,
            account_id=first,
            full_name="Imran Khan",
            email="imran@example.com",
            phone="+92 321 7654321",
        )
        outsider = await create_person(
            session,
            ring,
            account_id=second,
            full_name="Ayesha Khan",
            email="outsider@example.com",
            phone="03451112223",
            cnic="42101-7654321-3",
        )
        await session.commit()
    return first, second, {"ayesha": ayesha.id, "imran": imran.id, "outsider": outsider.id}


@pytest.mark.parametrize(
    ("criterion", "value", "expected"),
    [
        ("email", "ayesha@example.com", ["ayesha"]),
        ("email", "  AYESHA@Example.COM ", ["ayesha"]),
        ("phone", "+923001234567", ["ayesha"]),
        ("phone", "0300 1234567", ["ayesha"]),
        ("cnic", "35202-1234567-1", ["ayesha"]),
        ("cnic", "3520212345671", ["ayesha"]),
        ("name", "noor", ["ayesha"]),
        ("name", "KHAN", ["imran", "ayesha"]),
        ("name", "Khan Ayesha", ["ayesha"]),  # every word must match, in any order
        ("name", "Kha", []),  # whole words only
        ("email", "nobody@example.com", []),
        ("email", "outsider@example.com", []),  # another account's person
        ("phone", "03451112223", []),
        ("cnic", "42101-7654321-3", []),
    ],
)
async def test_search_by_each_criterion_in_own_account_only(
    database: Database,
    test_keyring: MasterKeyring,
    criterion: str,
    value: str,
    expected: list[str],
) -> None:
    first, _second, ids = await _seed(database, test_keyring)
    async with database.sessionmaker() as session:
        found = await search_people(session, test_keyring, account_id=first, **{criterion: value})
    assert sorted(found) == sorted(ids[name] for name in expected)


async def test_the_other_account_finds_its_own(
    database: Database, test_keyring: MasterKeyring
) -> None:
    _first, second, ids = await _seed(database, test_keyring)
    async with database.sessionmaker() as session:
        assert await search_people(session, test_keyring, account_id=second, name="khan") == [
            ids["outsider"]
        ]
        assert (
            await search_people(
                session, test_keyring, account_id=second, email="ayesha@example.com"
            )
            == []
        )


@pytest.mark.asvs("V2.2.1")
@pytest.mark.parametrize(
    ("criteria", "code", "field"),
    [
        ({}, "one_search_criterion", None),
        ({"email": "a@example.com", "name": "khan"}, "one_search_criterion", None),
        ({"email": "   "}, "one_search_criterion", None),
        ({"cnic": "35202"}, "invalid_cnic", "cnic"),
        ({"phone": "042 35761234"}, "invalid_phone", "phone"),
        ({"email": "no-at-sign"}, "invalid_email", "email"),
        ({"name": "a b c d e f g h i j k"}, "invalid_full_name", "name"),
    ],
)
async def test_search_takes_exactly_one_valid_criterion(
    database: Database,
    test_keyring: MasterKeyring,
    criteria: dict[str, str],
    code: str,
    field: str | None,
) -> None:
    async with database.sessionmaker() as session:
        with pytest.raises(InvalidInput) as caught:
            await search_people(session, test_keyring, account_id="any", **criteria)
    assert caught.value.code == code
    assert caught.value.extra.get("field") == field


async def test_found_people_come_decrypted_and_erased_ones_are_left_out(
    database: Database, test_keyring: MasterKeyring
) -> None:
    first, _second, ids = await _seed(database, test_keyring)
    async with database.sessionmaker() as session:
        found = await find_people(session, test_keyring, account_id=first, name="khan")
        assert [(person.id, person.email) for person in found] == [
            (ids["imran"], "imran@example.com"),
            (ids["ayesha"], "ayesha@example.com"),
        ]
        assert found[1].cnic == "3520212345671"
        # A data backup restored after an erasure still holds the row, but the key is gone.
        await session.execute(delete(PersonKey).where(PersonKey.person_id == ids["imran"]))
        again = await find_people(session, test_keyring, account_id=first, name="khan")
    assert [person.id for person in again] == [ids["ayesha"]]
