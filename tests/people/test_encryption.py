"""Every personal-data value is encrypted under the person's own key and bound to its table,
column and row: it round-trips for its owner, and a copy anywhere else fails to decrypt
(ASVS V11.3.1–2, V14.2.4)."""

from __future__ import annotations

import itertools
import unicodedata

import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from amanat.core.crypto import DecryptionError, MasterKeyring
from amanat.core.db import Database
from amanat.people.models import Person, PersonKey
from amanat.people.personal_data import PERSON_FIELDS, read_person
from amanat.people.registry import create_person
from amanat.people.validation import PK_PROVINCES, PostalAddress
from tests.support.identity import make_account

pytestmark = [
    pytest.mark.asvs("V11.3.1", "V11.3.2", "V14.2.4"),
    pytest.mark.policy("§4 encryption"),
]

_LOCAL = "abcdefghijklmnopqrstuvwxyz0123456789"
_TEXT = st.characters(blacklist_categories=("Cc", "Cf", "Co", "Cs", "Zs", "Zl", "Zp"))
_WORDS = st.lists(st.text(_TEXT, min_size=1, max_size=12), min_size=1, max_size=4)


def _clean(words: list[str]) -> str:
    return " ".join(unicodedata.normalize("NFC", " ".join(words)).split())


@st.composite
def _people(draw: st.DrawFn) -> dict[str, object]:
    operator = draw(st.sampled_from(["300", "312", "321", "333", "345"]))
    phone = f"+92{operator}{draw(st.integers(0, 9_999_999)):07d}"
    if not phonenumbers.is_valid_number(phonenumbers.parse(phone)):
        phone = "+923001234567"
    foreign = draw(st.booleans())
    address: dict[str, object] | None = draw(
        st.none()
        | st.fixed_dictionaries(
            {
                "line1": _WORDS.map(_clean),
                "line2": st.none() | _WORDS.map(_clean),
                "city": _WORDS.map(_clean),
                "province": st.sampled_from(PK_PROVINCES) if not foreign else _WORDS.map(_clean),
                "postal_code": st.text(alphabet="0123456789", min_size=5, max_size=5),
                "country": st.just("AE" if foreign else "PK"),
            }
        )
    )
    return {
        "full_name": _clean(draw(_WORDS)),
        "local": draw(
            st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=20)
        ),
        "phone": draw(st.none() | st.just(phone)),
        "cnic": draw(st.none() | st.text(alphabet="0123456789", min_size=13, max_size=13)),
        "address": address,
    }


async def test_every_field_round_trips_through_encryption(
    database: Database, test_keyring: MasterKeyring
) -> None:
    account = await make_account(database, "Round Trip Traders")
    drawn: list[dict[str, object]] = []

    @settings(
        max_examples=30,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(person=_people())
    def collect(person: dict[str, object]) -> None:
        drawn.append(person)

    collect()
    seen_cnics: set[object] = set()
    async with database.sessionmaker() as session:
        for number, person in enumerate(drawn):
            cnic = person["cnic"] if person["cnic"] not in seen_cnics else None
            seen_cnics.add(cnic)
            address = person["address"]
            created = await create_person(
                session,
                test_keyring,
                account_id=account,
                full_name=str(person["full_name"]),
                email=f"{person['local']}.{number}@example.com",
                phone=person["phone"] if isinstance(person["phone"], str) else None,
                cnic=cnic if isinstance(cnic, str) else None,
                address=address if isinstance(address, dict) else None,
            )
            session.expunge_all()  # read back from the database, not the identity map
            read = await read_person(session, test_keyring, created.id)
            assert read == created
            assert read.full_name == person["full_name"]
            assert read.email == f"{person['local']}.{number}@example.com"
            assert read.phone == person["phone"]
            assert read.cnic == cnic
            if isinstance(address, dict):
                assert read.address == PostalAddress(**address)
            else:
                assert read.address is None


async def _two_people(database: Database, ring: MasterKeyring) -> tuple[str, str]:
    account = await make_account(database, "Copy Paste Traders")
    address = {"line1": "House 1", "city": "Quetta", "province": "Balochistan",
               "postal_code": "87300"}  # fmt: skip
    async with database.sessionmaker() as session:
        first = await create_person(
            session,
            ring,
            account_id=account,
            full_name="Gul Panra",
            email="gul@example.com",
            phone="03001112223",
            cnic="54400-1111111-1",
            address=address,
        )
        second = await create_person(
            session,
            ring,
            account_id=account,
            full_name="Sana Mir",
            email="sana@example.com",
            phone="03214445556",
            cnic="54400-2222222-2",
            address={**address, "line1": "House 2"},
        )
        await session.commit()
    return first.id, second.id


async def test_a_ciphertext_copied_to_another_row_or_column_fails(
    database: Database, test_keyring: MasterKeyring
) -> None:
    first, second = await _two_people(database, test_keyring)
    # Every (source column, target column, same or other row) but leaving a value in place.
    cases = [
        (source, target, other_row)
        for source, target, other_row in itertools.product(
            PERSON_FIELDS, PERSON_FIELDS, (False, True)
        )
        if other_row or source != target
    ]
    assert len(cases) == 45
    async with database.sessionmaker() as session:
        for source, target, other_row in cases:
            row = await session.get(Person, first)
            assert row is not None
            blob = getattr(row, source)
            victim = second if other_row else first
            savepoint = await session.begin_nested()
            await session.execute(
                update(Person)
                .where(Person.id == victim)
                .values({target: blob})
                .execution_options(synchronize_session=False)
            )
            session.expire_all()
            with pytest.raises(DecryptionError):
                await read_person(session, test_keyring, victim)
            await savepoint.rollback()
            session.expire_all()
        # Untouched, both still read.
        assert (await read_person(session, test_keyring, first)).cnic == "5440011111111"
        assert (await read_person(session, test_keyring, second)).cnic == "5440022222222"


async def test_one_persons_data_key_cannot_stand_in_for_anothers(
    database: Database, test_keyring: MasterKeyring
) -> None:
    first, second = await _two_people(database, test_keyring)
    async with database.sessionmaker() as session:
        keys = {
            row.person_id: row.wrapped
            for row in (await session.scalars(select(PersonKey))).all()
            if row.person_id in (first, second)
        }
        await session.execute(
            update(PersonKey)
            .where(PersonKey.person_id == second)
            .values(wrapped=keys[first])
            .execution_options(synchronize_session=False)
        )
        session.expire_all()
        with pytest.raises(DecryptionError):
            await read_person(session, test_keyring, second)


async def test_each_person_has_their_own_key_and_fresh_nonces(
    database: Database, test_keyring: MasterKeyring
) -> None:
    first, second = await _two_people(database, test_keyring)
    async with database.sessionmaker() as session:
        rows = [await session.get(Person, person_id) for person_id in (first, second)]
        keys = (await session.scalars(select(PersonKey.wrapped))).all()
    assert len(set(keys)) == len(keys)
    blobs = [getattr(row, field) for row in rows if row is not None for field in PERSON_FIELDS]
    assert len(blobs) == 10
    assert all(blob[0] == 1 for blob in blobs)  # AES-256-GCM algorithm id
    assert len({blob[1:13] for blob in blobs}) == 10  # no nonce repeats
