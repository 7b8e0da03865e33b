"""Blind indexes of personal data: exact look-up and uniqueness without plaintext.

Email, phone, CNIC and each word of the name are kept as keyed HMAC digests (a subkey of the
master key); equal values give equal digests, nothing more. Look-ups and the uniqueness of
email and CNIC try every master version in the ring, so people indexed before a rotation are
still found until they are re-indexed.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from amanat.core.crypto import (
    BlindIndexKey,
    MasterKeyring,
    blind_index_key_from,
    compute_blind_index,
)
from amanat.core.errors import Conflict, InvalidInput
from amanat.people.models import Person, PersonNameWord
from amanat.people.personal_data import IN_LIST_CHUNK, PersonData, PersonFields
from amanat.people.validation import (
    email_lookup_key,
    name_words,
    normalize_cnic,
    normalize_email,
    normalize_phone,
)

# Blind-index kinds: part of the HMAC input, so equal strings of two kinds never match.
EMAIL_KIND = "email"
PHONE_KIND = "phone"
CNIC_KIND = "cnic"
NAME_WORD_KIND = "name_word"


def _index(ring: MasterKeyring, kind: str, value: str) -> bytes:
    return compute_blind_index(blind_index_key_from(ring), kind, value)


def lookup_digests(ring: MasterKeyring, kind: str, value: str) -> list[bytes]:
    """The value's digest under every master version in the ring: rows indexed before a
    rotation are still found (and still count for uniqueness) until they are re-indexed."""
    return [
        compute_blind_index(blind_index_key_from(ring, version), kind, value)
        for version in sorted(ring.versions, reverse=True)
    ]


def email_index(ring: MasterKeyring, email: str) -> bytes:
    return _index(ring, EMAIL_KIND, email_lookup_key(normalize_email(email)))


def phone_index(ring: MasterKeyring, phone: str) -> bytes:
    return _index(ring, PHONE_KIND, normalize_phone(phone))


def cnic_index(ring: MasterKeyring, cnic: str) -> bytes:
    return _index(ring, CNIC_KIND, normalize_cnic(cnic))


def index_values(key: BlindIndexKey, fields: PersonFields) -> dict[str, object]:
    """The row's blind-index columns under ``key``."""
    return {
        "email_index": compute_blind_index(key, EMAIL_KIND, email_lookup_key(fields.email)),
        "phone_index": (
            compute_blind_index(key, PHONE_KIND, fields.phone) if fields.phone is not None else None
        ),
        "cnic_index": (
            compute_blind_index(key, CNIC_KIND, fields.cnic) if fields.cnic is not None else None
        ),
        "index_key_version": key.version,
    }


def name_word_digests(key: BlindIndexKey, fields: PersonFields) -> set[bytes]:
    """The digest of each whole word of the name under ``key``."""
    return {compute_blind_index(key, NAME_WORD_KIND, word) for word in name_words(fields.full_name)}


def apply_indexes(
    session: AsyncSession, ring: MasterKeyring, row: Person, fields: PersonFields
) -> None:
    """Set every blind index of ``row`` under the current master version (the name words are
    added here; the caller deletes old ones first)."""
    key = blind_index_key_from(ring)
    for column, value in index_values(key, fields).items():
        setattr(row, column, value)
    for digest in name_word_digests(key, fields):
        session.add(PersonNameWord(person_id=row.id, account_id=row.account_id, digest=digest))


async def reindex_loaded_people(
    session: AsyncSession, ring: MasterKeyring, people: Mapping[Person, PersonData]
) -> None:
    """Recompute every blind index of these loaded people under the current master version,
    in a few statements (their old name words go, the new ones come)."""
    if not people:
        return
    key = blind_index_key_from(ring)
    await session.execute(
        delete(PersonNameWord).where(PersonNameWord.person_id.in_([row.id for row in people]))
    )
    words: list[dict[str, object]] = []
    for row, data in people.items():
        fields = PersonFields(data.full_name, data.email, data.phone, data.cnic, data.address)
        for column, value in index_values(key, fields).items():
            setattr(row, column, value)
        words.extend(
            {"person_id": row.id, "account_id": row.account_id, "digest": digest}
            for digest in name_word_digests(key, fields)
        )
    # The deletes must reach the database before the same (person, word) keys come back.
    await session.flush()
    if words:
        await session.execute(insert(PersonNameWord), words)


def email_taken() -> Conflict:
    """The refusal of an email address someone already uses."""
    return Conflict("This email address is already in use.", code="email_taken", field="email")


def cnic_taken() -> Conflict:
    """The refusal of a CNIC registered to someone else."""
    return Conflict(
        "This CNIC is already registered to someone else.", code="cnic_taken", field="cnic"
    )


async def _ensure_unused(
    session: AsyncSession,
    column: InstrumentedAttribute[bytes] | InstrumentedAttribute[bytes | None],
    digests: list[bytes],
    *,
    except_person: str | None,
    error: Conflict,
) -> None:
    statement = select(Person.id).where(column.in_(digests))
    if except_person is not None:
        statement = statement.where(Person.id != except_person)
    if await session.scalar(statement.limit(1)):
        raise error


async def ensure_unique(
    session: AsyncSession, ring: MasterKeyring, fields: PersonFields, except_person: str | None
) -> None:
    """Refuse an email or CNIC that anyone but ``except_person`` holds, platform-wide."""
    await _ensure_unused(
        session,
        Person.email_index,
        lookup_digests(ring, EMAIL_KIND, email_lookup_key(fields.email)),
        except_person=except_person,
        error=email_taken(),
    )
    if fields.cnic is not None:
        await _ensure_unused(
            session,
            Person.cnic_index,
            lookup_digests(ring, CNIC_KIND, fields.cnic),
            except_person=except_person,
            error=cnic_taken(),
        )


async def taken_digests(
    session: AsyncSession, column: InstrumentedAttribute[Any], digests: Collection[bytes]
) -> set[bytes]:
    """Which of ``digests`` some person already holds in ``column``."""
    taken: set[bytes] = set()
    ordered = list(digests)
    for start in range(0, len(ordered), IN_LIST_CHUNK):
        chunk = ordered[start : start + IN_LIST_CHUNK]
        taken.update(await session.scalars(select(column).where(column.in_(chunk))))
    return taken


# Built once (sign-in by email runs the first): building a statement costs more than running it.
_PERSON_ID_BY_EMAIL = select(Person.id).where(
    Person.email_index.in_(bindparam("digests", expanding=True))
)
_PERSON_ID_BY_CNIC = select(Person.id).where(
    Person.cnic_index.in_(bindparam("digests", expanding=True))
)


async def find_person_id_by_email(
    session: AsyncSession, ring: MasterKeyring, email: str
) -> str | None:
    """Exact, case-insensitive look-up through the blind index (no plaintext compared)."""
    try:
        key = email_lookup_key(normalize_email(email))
    except InvalidInput:  # an invalid address simply matches no one
        return None
    found: str | None = await session.scalar(
        _PERSON_ID_BY_EMAIL, {"digests": lookup_digests(ring, EMAIL_KIND, key)}
    )
    return found


async def find_person_id_by_cnic(
    session: AsyncSession, ring: MasterKeyring, cnic: str
) -> str | None:
    """Exact look-up of a CNIC platform-wide through the blind index (no plaintext compared)."""
    try:
        digits = normalize_cnic(cnic)
    except InvalidInput:  # a malformed CNIC simply matches no one
        return None
    found: str | None = await session.scalar(
        _PERSON_ID_BY_CNIC, {"digests": lookup_digests(ring, CNIC_KIND, digits)}
    )
    return found
