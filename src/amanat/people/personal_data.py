"""Personal data of a person (policy §1): their fields, encrypted at rest, and reading them.

Every value is encrypted under the person's own data key (AES-256-GCM, bound to table, column
and row); the key is wrapped by the master key ring and stored apart from the values, so
deleting it erases the person everywhere. The database holds no plaintext.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.core.crypto import (
    DecryptionError,
    MasterKeyring,
    WrappedKey,
    decrypt_value,
    encrypt_value,
    unwrap_data_key,
)
from amanat.core.errors import NotFound
from amanat.people.masking import (
    mask_address,
    mask_cnic,
    mask_email,
    mask_full_name,
    mask_phone,
)
from amanat.people.models import Person, PersonKey
from amanat.people.validation import PostalAddress, format_cnic, format_phone

TABLE = "person"
# Bounded IN lists: SQLite allows 32,766 parameters, and short lists plan well everywhere.
IN_LIST_CHUNK = 500

PERSON_FIELDS = ("full_name", "email", "phone", "cnic", "address")

AddressInput = Mapping[str, object] | PostalAddress


@dataclass(frozen=True, repr=False)
class PersonData:
    """Decrypted fields of one person. Never logged, never put in an exception.

    `phone` is E.164, `cnic` the 13 bare digits; `phone_display` and `cnic_display` are the
    forms a person reads. Show `masked()` to anyone but the person themselves.
    """

    id: str
    account_id: str
    full_name: str
    email: str
    phone: str | None = None
    cnic: str | None = None
    address: PostalAddress | None = None

    @property
    def phone_display(self) -> str | None:
        return format_phone(self.phone) if self.phone else None

    @property
    def cnic_display(self) -> str | None:
        return format_cnic(self.cnic) if self.cnic else None

    def masked(self) -> dict[str, str]:
        """Every field masked; phone, cnic and address appear only when the person has one
        (address as its city)."""
        shown = {"full_name": mask_full_name(self.full_name), "email": mask_email(self.email)}
        if self.phone:
            shown["phone"] = mask_phone(self.phone)
        if self.cnic:
            shown["cnic"] = mask_cnic(self.cnic)
        if self.address:
            shown["address"] = mask_address(self.address)
        return shown

    def __repr__(self) -> str:
        return f"PersonData(id={self.id!r})"


@dataclass(frozen=True)
class PersonFields:
    """A person's normalized field values, as encrypted and indexed (no id yet)."""

    full_name: str
    email: str
    phone: str | None
    cnic: str | None
    address: PostalAddress | None

    def plaintext(self, column: str) -> str | None:
        if column == "address":
            return self.address.to_json() if self.address is not None else None
        value: str | None = getattr(self, column)
        return value


def _seal(data_key: bytes, person_id: str, column: str, plaintext: str) -> bytes:
    return encrypt_value(data_key, plaintext, table=TABLE, column=column, row_id=person_id)


def seal_optional(
    data_key: bytes, person_id: str, column: str, plaintext: str | None
) -> bytes | None:
    """One field encrypted under the person's data key, bound to its table, column and row;
    None for a field the person does not have."""
    return None if plaintext is None else _seal(data_key, person_id, column, plaintext)


def person_data(row: Person, fields: PersonFields) -> PersonData:
    """The person of ``row`` with these (decrypted) fields."""
    return PersonData(
        id=row.id,
        account_id=row.account_id,
        full_name=fields.full_name,
        email=fields.email,
        phone=fields.phone,
        cnic=fields.cnic,
        address=fields.address,
    )


def _decrypted(ring: MasterKeyring, row: Person, key_row: PersonKey) -> tuple[bytes, PersonFields]:
    data_key = unwrap_data_key(
        ring, WrappedKey(key_row.master_version, key_row.wrapped), subject=row.id
    )

    def field(column: str, blob: bytes | None) -> str | None:
        if blob is None:
            return None
        return decrypt_value(data_key, blob, table=TABLE, column=column, row_id=row.id)

    address = field("address", row.address)
    fields = PersonFields(
        full_name=field("full_name", row.full_name) or "",
        email=field("email", row.email) or "",
        phone=field("phone", row.phone),
        cnic=field("cnic", row.cnic),
        address=PostalAddress.from_json(address) if address is not None else None,
    )
    return data_key, fields


# Built once: every /me and profile page reads a person. (`session.get` builds its statement
# on each call when the row is not loaded yet.)
_PERSON_BY_ID = select(Person).where(Person.id == bindparam("person_id"))
_KEY_OF_PERSON = select(PersonKey).where(PersonKey.person_id == bindparam("person_id"))


async def load_person(
    session: AsyncSession, ring: MasterKeyring, person_id: str
) -> tuple[Person, bytes, PersonFields]:
    """The person's row, unwrapped data key and decrypted fields; NotFound if there is none."""
    row = await session.scalar(_PERSON_BY_ID, {"person_id": person_id})
    key_row = await session.scalar(_KEY_OF_PERSON, {"person_id": person_id})
    if row is None or key_row is None:
        raise NotFound("No such person.", code="person_not_found")
    data_key, fields = _decrypted(ring, row, key_row)
    return row, data_key, fields


async def read_person(session: AsyncSession, ring: MasterKeyring, person_id: str) -> PersonData:
    """Decrypt one person's fields (callers decide who may see them, and mask by default).

    A value that does not authenticate under this person, column and row raises
    ``DecryptionError``: it was tampered with or copied from elsewhere.
    """
    row, _key, fields = await load_person(session, ring, person_id)
    return person_data(row, fields)


async def read_people(
    session: AsyncSession, ring: MasterKeyring, rows: Sequence[Person]
) -> dict[str, PersonData | None]:
    """Decrypt many loaded people with one key-store query; None for a person whose key is
    gone or whose values do not authenticate (erased, or tampered with)."""
    keys: dict[str, PersonKey] = {}
    for start in range(0, len(rows), IN_LIST_CHUNK):
        chunk = [row.id for row in rows[start : start + IN_LIST_CHUNK]]
        for stored in await session.scalars(
            select(PersonKey).where(PersonKey.person_id.in_(chunk))
        ):
            keys[stored.person_id] = stored
    found: dict[str, PersonData | None] = {}
    for row in rows:
        key_row = keys.get(row.id)
        if key_row is None:
            found[row.id] = None
            continue
        try:
            _key, fields = _decrypted(ring, row, key_row)
        except DecryptionError:
            found[row.id] = None
            continue
        found[row.id] = person_data(row, fields)
    return found


async def read_people_by_id(
    session: AsyncSession, ring: MasterKeyring, person_ids: Collection[str]
) -> dict[str, PersonData | None]:
    """`read_people` for people named by id: two queries for any number of them (a list page
    does not read its people one by one). Ids of no one map to None."""
    wanted = list(dict.fromkeys(person_ids))
    rows: list[Person] = []
    for start in range(0, len(wanted), IN_LIST_CHUNK):
        chunk = wanted[start : start + IN_LIST_CHUNK]
        rows.extend(await session.scalars(select(Person).where(Person.id.in_(chunk))))
    found = await read_people(session, ring, rows)
    return {person_id: found.get(person_id) for person_id in wanted}
