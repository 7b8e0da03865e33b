"""Personal data use cases: create a person, find one by exact value, read their fields.

Every value is encrypted under the person's own data key; the key is wrapped by the master
key ring and stored apart from the values, so deleting it erases the person everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.core.clock import utcnow
from amanat.core.crypto import (
    MasterKeyring,
    WrappedKey,
    blind_index_key_from,
    compute_blind_index,
    decrypt_value,
    encrypt_value,
    new_data_key,
    unwrap_data_key,
    wrap_data_key,
)
from amanat.core.errors import Conflict, NotFound
from amanat.core.ids import new_id
from amanat.people.masking import mask_email, mask_full_name
from amanat.people.models import Person, PersonKey, PersonNameWord
from amanat.people.validation import (
    email_lookup_key,
    name_words,
    normalize_email,
    normalize_full_name,
)

TABLE = "person"


@dataclass(frozen=True)
class PersonData:
    """Decrypted fields of one person. Never logged, never put in an exception."""

    id: str
    account_id: str
    full_name: str
    email: str

    def masked(self) -> dict[str, str]:
        return {"full_name": mask_full_name(self.full_name), "email": mask_email(self.email)}

    def __repr__(self) -> str:
        return f"PersonData(id={self.id!r})"


def _index(ring: MasterKeyring, kind: str, value: str) -> bytes:
    return compute_blind_index(blind_index_key_from(ring), kind, value)


def email_index(ring: MasterKeyring, email: str) -> bytes:
    return _index(ring, "email", email_lookup_key(normalize_email(email)))


async def create_person(
    session: AsyncSession, ring: MasterKeyring, *, account_id: str, full_name: str, email: str
) -> PersonData:
    """Validate, encrypt and store a person; the email must be unused platform-wide."""
    name = normalize_full_name(full_name)
    address = normalize_email(email)
    digest = email_index(ring, address)
    if await session.scalar(select(Person.id).where(Person.email_index == digest)):
        raise Conflict("This email address is already in use.", code="email_taken", field="email")
    person_id = new_id()
    data_key = new_data_key()
    wrapped = wrap_data_key(ring, data_key, subject=person_id)
    now = utcnow()
    session.add(
        PersonKey(person_id=person_id, master_version=wrapped.master_version, wrapped=wrapped.blob)
    )
    session.add(
        Person(
            id=person_id,
            account_id=account_id,
            full_name=encrypt_value(
                data_key, name, table=TABLE, column="full_name", row_id=person_id
            ),
            email=encrypt_value(data_key, address, table=TABLE, column="email", row_id=person_id),
            email_index=digest,
            index_key_version=ring.current_version,
            created_at=now,
            updated_at=now,
        )
    )
    index_key = blind_index_key_from(ring)
    for word in name_words(name):
        session.add(
            PersonNameWord(
                person_id=person_id,
                account_id=account_id,
                digest=compute_blind_index(index_key, "name_word", word),
            )
        )
    await session.flush()
    return PersonData(id=person_id, account_id=account_id, full_name=name, email=address)


async def find_person_id_by_email(
    session: AsyncSession, ring: MasterKeyring, email: str
) -> str | None:
    """Exact, case-insensitive look-up through the blind index (no plaintext compared)."""
    try:
        digest = email_index(ring, email)
    except Exception:  # an invalid address simply matches no one
        return None
    found: str | None = await session.scalar(select(Person.id).where(Person.email_index == digest))
    return found


async def read_person(session: AsyncSession, ring: MasterKeyring, person_id: str) -> PersonData:
    """Decrypt one person's fields (callers decide who may see them, and mask by default)."""
    row = await session.get(Person, person_id)
    key_row = await session.get(PersonKey, person_id)
    if row is None or key_row is None:
        raise NotFound("No such person.", code="person_not_found")
    data_key = unwrap_data_key(
        ring, WrappedKey(key_row.master_version, key_row.wrapped), subject=person_id
    )

    def field(column: str, blob: bytes) -> str:
        return decrypt_value(data_key, blob, table=TABLE, column=column, row_id=person_id)

    return PersonData(
        id=person_id,
        account_id=row.account_id,
        full_name=field("full_name", row.full_name),
        email=field("email", row.email),
    )


async def erase_person(session: AsyncSession, person_id: str) -> None:
    """Crypto-shred: delete the data key, then the ciphertext and indexes."""
    await session.execute(delete(PersonKey).where(PersonKey.person_id == person_id))
    await session.execute(delete(PersonNameWord).where(PersonNameWord.person_id == person_id))
    await session.execute(delete(Person).where(Person.id == person_id))
    await session.flush()
