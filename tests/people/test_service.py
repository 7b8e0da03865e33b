"""Creating and changing a person: validation, uniqueness of email and CNIC platform-wide,
operator-required fields, blind indexes kept in step (ASVS V2.2.1, V11.3.1)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.errors import Conflict, InvalidInput
from amanat.people.blind_index import email_index, find_person_id_by_email
from amanat.people.models import Person, PersonNameWord
from amanat.people.personal_data import read_person
from amanat.people.registry import create_person, erase_person, update_person
from amanat.people.search import search_people
from amanat.people.validation import PostalAddress
from tests.support.identity import make_account

pytestmark = pytest.mark.policy("§1 what we collect")

ISLAMABAD = {
    "line1": "Flat 3, Block B",
    "city": "Islamabad",
    "province": "ICT",
    "postal_code": "44000",
}


async def test_a_person_with_every_field(database: Database, test_keyring: MasterKeyring) -> None:
    account = await make_account(database, "Field Traders")
    async with database.sessionmaker() as session:
        person = await create_person(
            session,
            test_keyring,
            account_id=account,
            full_name="  Ayesha   Khan ",
            email="Ayesha@Example.com",
            phone="0300-1234567",
            cnic="35202-1234567-1",
            address=ISLAMABAD,
        )
        read = await read_person(session, test_keyring, person.id)
    assert read == person
    assert (read.full_name, read.email) == ("Ayesha Khan", "Ayesha@example.com")
    assert (read.phone, read.phone_display) == ("+923001234567", "+92 300 1234567")
    assert (read.cnic, read.cnic_display) == ("3520212345671", "35202-1234567-1")
    assert read.address == PostalAddress(
        line1="Flat 3, Block B",
        city="Islamabad",
        province="Islamabad Capital Territory",
        postal_code="44000",
        country="PK",
    )


async def test_only_name_and_email_are_required(
    database: Database, test_keyring: MasterKeyring
) -> None:
    account = await make_account(database, "Minimal Traders")
    async with database.sessionmaker() as session:
        person = await create_person(
            session,
            test_keyring,
            account_id=account,
            full_name="Bilal",
            email="bilal@example.com",
            phone="  ",  # a blank form field is "not given"
            cnic="",
        )
        row = await session.get(Person, person.id)
    assert row is not None
    assert (row.phone, row.cnic, row.address) == (None, None, None)
    assert (row.phone_index, row.cnic_index) == (None, None)


@pytest.mark.asvs("V2.2.1")
@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"full_name": ""}, "invalid_full_name", "full_name"),
        ({"email": "not-an-email"}, "invalid_email", "email"),
        ({"phone": "042 35761234"}, "invalid_phone", "phone"),
        ({"cnic": "35202-1234567"}, "invalid_cnic", "cnic"),
        ({"address": {**ISLAMABAD, "postal_code": "4400"}}, "invalid_postal_code",
         "address.postal_code"),
        ({"address": {**ISLAMABAD, "country": "XX"}}, "invalid_country", "address.country"),
        ({"address": {**ISLAMABAD, "province": "Texas"}}, "invalid_province",
         "address.province"),
        ({"address": {**ISLAMABAD, "geo": "33.7,73.1"}}, "unknown_field", "address"),
    ],
)  # fmt: skip
async def test_each_invalid_field_is_named(
    database: Database,
    test_keyring: MasterKeyring,
    fields: dict[str, object],
    code: str,
    field: str,
) -> None:
    account = await make_account(database, "Invalid Traders")
    values: dict[str, Any] = {"full_name": "Hina", "email": "hina@example.com", **fields}
    async with database.sessionmaker() as session:
        with pytest.raises(InvalidInput) as caught:
            await create_person(session, test_keyring, account_id=account, **values)
        assert await session.scalar(select(Person.id).where(Person.account_id == account)) is None
    assert (caught.value.code, caught.value.extra["field"]) == (code, field)


@pytest.mark.asvs("V2.2.1")
@pytest.mark.parametrize("missing", ["phone", "cnic", "address"])
async def test_operator_may_require_identity_fields(
    database: Database, test_keyring: MasterKeyring, missing: str
) -> None:
    account = await make_account(database, "Strict Traders")
    complete: dict[str, Any] = {
        "phone": "03001234567",
        "cnic": "3520212345671",
        "address": ISLAMABAD,
    }
    partial = {key: value for key, value in complete.items() if key != missing}
    async with database.sessionmaker() as session:
        with pytest.raises(InvalidInput) as caught:
            await create_person(
                session,
                test_keyring,
                account_id=account,
                full_name="Hina",
                email="hina@example.com",
                required=("phone", "cnic", "address"),
                **partial,
            )
        assert caught.value.code == f"{missing}_required"
        assert caught.value.extra["field"] == missing
        person = await create_person(
            session,
            test_keyring,
            account_id=account,
            full_name="Hina",
            email="hina@example.com",
            required=(missing,),
            **complete,
        )
        assert person.masked()[missing]


async def test_email_is_unique_platform_wide_ignoring_case(
    database: Database, test_keyring: MasterKeyring
) -> None:
    first_account = await make_account(database, "First Traders")
    second_account = await make_account(database, "Second Traders")
    async with database.sessionmaker() as session:
        await create_person(
            session, test_keyring, account_id=first_account, full_name="A", email="dup@example.com"
        )
        with pytest.raises(Conflict) as caught:
            await create_person(
                session,
                test_keyring,
                account_id=second_account,
                full_name="B",
                email="DUP@example.COM",
            )
    assert caught.value.code == "email_taken"
    assert "dup@" not in caught.value.message.lower()


@pytest.mark.asvs("V2.2.1")
async def test_cnic_is_unique_platform_wide_in_either_form(
    database: Database, test_keyring: MasterKeyring
) -> None:
    first_account = await make_account(database, "First Traders")
    second_account = await make_account(database, "Second Traders")
    async with database.sessionmaker() as session:
        await create_person(
            session,
            test_keyring,
            account_id=first_account,
            full_name="A",
            email="a@example.com",
            cnic="3520212345671",
        )
        with pytest.raises(Conflict) as caught:
            await create_person(
                session,
                test_keyring,
                account_id=second_account,
                full_name="B",
                email="b@example.com",
                cnic="35202-1234567-1",
            )
    assert (caught.value.code, caught.value.extra["field"]) == ("cnic_taken", "cnic")
    assert "1234567" not in caught.value.message


async def test_a_phone_may_be_shared(database: Database, test_keyring: MasterKeyring) -> None:
    account = await make_account(database, "Family Traders")
    async with database.sessionmaker() as session:
        for number in range(2):
            await create_person(
                session,
                test_keyring,
                account_id=account,
                full_name=f"Family Member {number}",
                email=f"member{number}@example.com",
                phone="+92 333 7654321",
            )
        found = await search_people(session, test_keyring, account_id=account, phone="03337654321")
    assert len(found) == 2


async def test_update_re_encrypts_and_keeps_indexes_in_step(
    database: Database, test_keyring: MasterKeyring
) -> None:
    account = await make_account(database, "Update Traders")
    async with database.sessionmaker() as session:
        person = await create_person(
            session,
            test_keyring,
            account_id=account,
            full_name="Ayesha Khan",
            email="ayesha@example.com",
            phone="03001234567",
        )
        before = await session.get(Person, person.id)
        assert before is not None
        old_email_blob, old_phone_blob = before.email, before.phone
        updated = await update_person(
            session,
            test_keyring,
            person.id,
            full_name="Ayesha Siddiqui",
            phone=None,
            cnic="61101-7654321-9",
            address=ISLAMABAD,
        )
        session.expunge_all()
        read = await read_person(session, test_keyring, person.id)
        assert read == updated
        assert (read.full_name, read.phone, read.cnic) == ("Ayesha Siddiqui", None, "6110176543219")
        assert read.email == "ayesha@example.com"
        row = await session.get(Person, person.id)
        assert row is not None
        assert row.email == old_email_blob  # unchanged values are not re-encrypted
        assert old_phone_blob is not None
        assert (row.phone, row.phone_index) == (None, None)
        assert row.cnic_index is not None

        async def by(**criterion: str) -> list[str]:
            return await search_people(session, test_keyring, account_id=account, **criterion)

        assert await by(name="siddiqui") == [person.id]
        assert await by(name="khan") == []
        assert await by(cnic="6110176543219") == [person.id]
        assert await by(phone="03001234567") == []
        words = await session.scalars(
            select(PersonNameWord.digest).where(PersonNameWord.person_id == person.id)
        )
        assert len(words.all()) == 2


async def test_update_checks_uniqueness_and_fields(
    database: Database, test_keyring: MasterKeyring
) -> None:
    account = await make_account(database, "Update Traders")
    async with database.sessionmaker() as session:
        await create_person(
            session,
            test_keyring,
            account_id=account,
            full_name="Taken",
            email="taken@example.com",
            cnic="1111111111111",
        )
        person = await create_person(
            session, test_keyring, account_id=account, full_name="Free", email="free@example.com"
        )
        for change, code in (
            ({"email": "Taken@example.com"}, "email_taken"),
            ({"cnic": "11111-1111111-1"}, "cnic_taken"),
            ({"email": None}, "invalid_email"),
            ({"full_name": "   "}, "empty_value"),  # blank is not "no value"
            ({"religion": "none of your business"}, "unknown_field"),
            ({"phone": 3001234567}, "invalid_phone"),
        ):
            with pytest.raises((Conflict, InvalidInput)) as caught:
                await update_person(session, test_keyring, person.id, **change)
            assert caught.value.code == code
        with pytest.raises(InvalidInput) as required:
            await update_person(session, test_keyring, person.id, required=("cnic",), phone=None)
        assert required.value.code == "cnic_required"
        # Its own values do not conflict with themselves.
        same = await update_person(session, test_keyring, person.id, email="FREE@example.com")
        assert same.email == "FREE@example.com"


async def test_lookups_survive_a_master_key_rotation(
    database: Database, test_keyring: MasterKeyring
) -> None:
    account = await make_account(database, "Rotation Traders")
    rotated = test_keyring.with_new_version()
    async with database.sessionmaker() as session:
        person = await create_person(
            session,
            test_keyring,
            account_id=account,
            full_name="Old Key",
            email="old@example.com",
            cnic="4210112345671",
        )
        assert await find_person_id_by_email(session, rotated, "OLD@example.com") == person.id
        assert await search_people(session, rotated, account_id=account, name="key") == [person.id]
        with pytest.raises(Conflict):
            await create_person(
                session,
                rotated,
                account_id=account,
                full_name="New Key",
                email="new@example.com",
                cnic="4210112345671",
            )
        await update_person(session, rotated, person.id, phone="03001234567")
        row = await session.get(Person, person.id)
        assert row is not None
        assert row.index_key_version == rotated.current_version
        assert row.email_index == email_index(rotated, "old@example.com")
        assert await search_people(session, rotated, account_id=account, name="old") == [person.id]


async def test_erasure_leaves_nothing_to_find(
    database: Database, test_keyring: MasterKeyring
) -> None:
    account = await make_account(database, "Erasure Traders")
    async with database.sessionmaker() as session:
        person = await create_person(
            session,
            test_keyring,
            account_id=account,
            full_name="Gone Person",
            email="gone@example.com",
            cnic="1234512345671",
        )
        await erase_person(session, person.id)
        assert await find_person_id_by_email(session, test_keyring, "gone@example.com") is None
        assert await search_people(session, test_keyring, account_id=account, name="gone") == []
        # The CNIC is free again.
        await create_person(
            session,
            test_keyring,
            account_id=account,
            full_name="New Person",
            email="new@example.com",
            cnic="1234512345671",
        )
