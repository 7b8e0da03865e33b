"""Values about a person kept outside the person row (a reveal's reason, a pending new email
address), sealed under that person's own data key.

They go with the person: erasing the data key (crypto-shredding) makes them unreadable too.
AAD binds each value to its table, column and row, as for the person's own fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from amanat.core.crypto import (
    MasterKeyring,
    WrappedKey,
    decrypt_value,
    encrypt_value,
    unwrap_data_key,
)
from amanat.core.errors import NotFound
from amanat.people.models import PersonKey


@dataclass(frozen=True, repr=False)
class PersonSeal:
    """Seals and opens values under one person's data key; never logged."""

    person_id: str
    key: bytes = field(repr=False)

    def seal(self, plaintext: str, *, table: str, column: str, row_id: str) -> bytes:
        return encrypt_value(self.key, plaintext, table=table, column=column, row_id=row_id)

    def open(self, blob: bytes, *, table: str, column: str, row_id: str) -> str:
        """The plaintext; ``DecryptionError`` when the blob was altered or moved."""
        return decrypt_value(self.key, blob, table=table, column=column, row_id=row_id)

    def __repr__(self) -> str:
        return f"PersonSeal(person_id={self.person_id!r})"


async def person_seal(session: AsyncSession, ring: MasterKeyring, person_id: str) -> PersonSeal:
    """The person's unwrapped data key; NotFound once they are erased."""
    key_row = await session.get(PersonKey, person_id)
    if key_row is None:
        raise NotFound("No such person.", code="person_not_found")
    wrapped = WrappedKey(key_row.master_version, key_row.wrapped)
    return PersonSeal(person_id, unwrap_data_key(ring, wrapped, subject=person_id))
