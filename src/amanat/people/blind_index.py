"""Blind indexes of personal data: exact look-up and uniqueness without plaintext.

Email, phone, CNIC and each word of the name are kept as keyed HMAC digests (a subkey of the
master key); equal values give equal digests, nothing more. Look-ups and the uniqueness of
email and CNIC try every master version in the ring, so people indexed before a rotation are
still found until they are re-indexed.

A value held as a claim (`Person.email_held`, `cnic_held`: an admin entered an email or CNIC
a person of another customer account has) is nobody's here: look-ups, sign-in and
uniqueness see only values held for good, so a claim never finds, blocks or merges with
anyone. `holders_of` sees both, for the door that must tell its own account's conflicts
from another's (`held_verdict`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
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
from amanat.core.errors import AmanatError, Conflict, InvalidInput
from amanat.core.ids import new_id
from amanat.people.models import IdentityClaim, Person, PersonNameWord
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


def _held_column(column: InstrumentedAttribute[Any]) -> InstrumentedAttribute[bool]:
    return Person.cnic_held if column is Person.cnic_index else Person.email_held


def email_taken() -> Conflict:
    """The refusal of an email address someone already uses."""
    return Conflict("This email address is already in use.", code="email_taken", field="email")


def cnic_taken() -> Conflict:
    """The refusal of a CNIC registered to someone else."""
    return Conflict(
        "This CNIC is already registered to someone else.", code="cnic_taken", field="cnic"
    )


@dataclass(frozen=True)
class Holder:
    """A person whose ``column`` has a digest looked for: for good, or as a held claim."""

    person_id: str
    account_id: str
    held: bool


async def holders_of(
    session: AsyncSession, column: InstrumentedAttribute[Any], digests: Collection[bytes]
) -> dict[bytes, list[Holder]]:
    """Every person with one of ``digests`` in ``column``, held claims included."""
    held = _held_column(column)
    found: dict[bytes, list[Holder]] = {}
    ordered = list(digests)
    for start in range(0, len(ordered), IN_LIST_CHUNK):
        chunk = ordered[start : start + IN_LIST_CHUNK]
        rows = await session.execute(
            select(column, Person.id, Person.account_id, held).where(column.in_(chunk))
        )
        for digest, person_id, account_id, is_held in rows:
            found.setdefault(digest, []).append(Holder(person_id, account_id, bool(is_held)))
    return found


@dataclass(frozen=True, repr=False)
class HeldField:
    """A value stored as a held claim: which field, whose it is for good (person, account),
    and its blind index now (warnings to the holder are counted by it)."""

    field: str
    holder_person_id: str
    holder_account_id: str
    digest: bytes

    def __repr__(self) -> str:
        return f"HeldField(field={self.field!r})"


@dataclass(frozen=True, repr=False)
class Entered:
    """A stored person and the values of theirs stored as held claims."""

    person: PersonData
    held: tuple[HeldField, ...] = ()

    def __repr__(self) -> str:
        return f"Entered(held={[held.field for held in self.held]!r})"


def held_verdict(
    holders: Collection[Holder], account_id: str, *, hold_foreign: bool, refusal: AmanatError
) -> Holder | AmanatError | None:
    """None for a free value; the holder for good to hold it against (another account's,
    with ``hold_foreign``); else the refusal. Anyone of the account itself, claims included,
    is refused openly: its admin sees its own people anyway."""
    if any(holder.account_id == account_id for holder in holders):
        return refusal
    for_good = [holder for holder in holders if not holder.held]
    if not for_good:
        return None
    return for_good[0] if hold_foreign else refusal


async def held_fields(session: AsyncSession, person_id: str) -> frozenset[str]:
    """Which of the person's email and CNIC are held claims (see the module's notes)."""
    row = (
        await session.execute(
            select(Person.email_held, Person.cnic_held).where(Person.id == person_id)
        )
    ).first()
    if row is None:
        return frozenset()
    return frozenset(name for name, held in zip(("email", "cnic"), row, strict=True) if held)


@dataclass(frozen=True)
class ClaimEntry:
    """One held claim to record: which account entered which field for whom, and which
    account holds it. Ids and a field name only."""

    account_id: str
    holder_account_id: str
    field: str
    person_id: str | None = None
    user_id: str | None = None


async def record_claims(
    session: AsyncSession, claims: Sequence[ClaimEntry], *, at: datetime
) -> list[str]:
    """Store the claims (`IdentityClaim`); their ids, in order."""
    rows = [
        IdentityClaim(
            id=new_id(),
            account_id=claim.account_id,
            holder_account_id=claim.holder_account_id,
            field=claim.field,
            person_id=claim.person_id,
            user_id=claim.user_id,
            created_at=at,
        )
        for claim in claims
    ]
    session.add_all(rows)
    await session.flush()
    return [row.id for row in rows]


async def resolve_claims(
    session: AsyncSession,
    *,
    field: str,
    at: datetime,
    user_id: str | None = None,
    person_id: str | None = None,
) -> None:
    """Mark the open claims of ``field`` on this user or person resolved (the value they
    were about is no longer held)."""
    statement = select(IdentityClaim).where(
        IdentityClaim.field == field, IdentityClaim.resolved_at.is_(None)
    )
    if user_id is not None:
        statement = statement.where(IdentityClaim.user_id == user_id)
    if person_id is not None:
        statement = statement.where(IdentityClaim.person_id == person_id)
    for claim in await session.scalars(statement):
        claim.resolved_at = at


# Built once (sign-in by email runs the first): building a statement costs more than running it.
# A held claim is nobody's: sign-in, reset and sign-up never find (or merge with) it.
_PERSON_ID_BY_EMAIL = select(Person.id).where(
    Person.email_index.in_(bindparam("digests", expanding=True)), Person.email_held.is_(False)
)
_PERSON_ID_BY_CNIC = select(Person.id).where(
    Person.cnic_index.in_(bindparam("digests", expanding=True)), Person.cnic_held.is_(False)
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
