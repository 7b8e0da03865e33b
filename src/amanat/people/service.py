"""Personal data use cases: create a person, change their fields, find one by exact value, read
their fields, erase them.

Every value is encrypted under the person's own data key (AES-256-GCM, bound to table, column
and row); the key is wrapped by the master key ring and stored apart from the values, so
deleting it erases the person everywhere. Look-up and uniqueness go through keyed blind
indexes (email, phone, CNIC, each word of the name); the database holds no plaintext.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from amanat.core.clock import utcnow
from amanat.core.crypto import (
    BlindIndexKey,
    DecryptionError,
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
from amanat.core.errors import AmanatError, Conflict, InvalidInput, NotFound
from amanat.core.ids import new_id
from amanat.people.masking import (
    mask_address,
    mask_cnic,
    mask_email,
    mask_full_name,
    mask_phone,
)
from amanat.people.models import Person, PersonKey, PersonNameWord
from amanat.people.validation import (
    IDENTITY_FIELDS,
    PostalAddress,
    email_lookup_key,
    format_cnic,
    format_phone,
    name_words,
    normalize_address,
    normalize_cnic,
    normalize_email,
    normalize_full_name,
    normalize_phone,
)

TABLE = "person"
_UNIQUENESS_CHUNK = 500

# Blind-index kinds: part of the HMAC input, so equal strings of two kinds never match.
EMAIL_KIND = "email"
PHONE_KIND = "phone"
CNIC_KIND = "cnic"
NAME_WORD_KIND = "name_word"

PERSON_FIELDS = ("full_name", "email", "phone", "cnic", "address")
_REQUIRED_LABELS = {"phone": "Phone number", "cnic": "CNIC", "address": "Postal address"}

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
class _Fields:
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


def _optional(value: str | None) -> str | None:
    # A blank form field means "not given", as an omitted one does.
    return value if value is not None and value.strip() else None


def _check_required(fields: _Fields, required: Collection[str]) -> None:
    unknown = set(required) - IDENTITY_FIELDS
    if unknown:
        raise ValueError("only phone, cnic and address can be required")
    for name in ("phone", "cnic", "address"):
        if name in required and getattr(fields, name) is None:
            raise InvalidInput(
                f"{_REQUIRED_LABELS[name]} is required for identity verification.",
                code=f"{name}_required",
                field=name,
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


def _email_taken() -> Conflict:
    return Conflict("This email address is already in use.", code="email_taken", field="email")


def _cnic_taken() -> Conflict:
    return Conflict(
        "This CNIC is already registered to someone else.", code="cnic_taken", field="cnic"
    )


async def _ensure_unique(
    session: AsyncSession, ring: MasterKeyring, fields: _Fields, except_person: str | None
) -> None:
    await _ensure_unused(
        session,
        Person.email_index,
        lookup_digests(ring, EMAIL_KIND, email_lookup_key(fields.email)),
        except_person=except_person,
        error=_email_taken(),
    )
    if fields.cnic is not None:
        await _ensure_unused(
            session,
            Person.cnic_index,
            lookup_digests(ring, CNIC_KIND, fields.cnic),
            except_person=except_person,
            error=_cnic_taken(),
        )


def _index_values(key: BlindIndexKey, fields: _Fields) -> dict[str, object]:
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


def _name_word_digests(key: BlindIndexKey, fields: _Fields) -> set[bytes]:
    return {compute_blind_index(key, NAME_WORD_KIND, word) for word in name_words(fields.full_name)}


def _apply_indexes(
    session: AsyncSession, ring: MasterKeyring, row: Person, fields: _Fields
) -> None:
    """Set every blind index of ``row`` under the current master version (the name words are
    added here; the caller deletes old ones first)."""
    key = blind_index_key_from(ring)
    for column, value in _index_values(key, fields).items():
        setattr(row, column, value)
    for digest in _name_word_digests(key, fields):
        session.add(PersonNameWord(person_id=row.id, account_id=row.account_id, digest=digest))


def _seal(data_key: bytes, person_id: str, column: str, plaintext: str) -> bytes:
    return encrypt_value(data_key, plaintext, table=TABLE, column=column, row_id=person_id)


def _seal_optional(
    data_key: bytes, person_id: str, column: str, plaintext: str | None
) -> bytes | None:
    return None if plaintext is None else _seal(data_key, person_id, column, plaintext)


def _person_data(row: Person, fields: _Fields) -> PersonData:
    return PersonData(
        id=row.id,
        account_id=row.account_id,
        full_name=fields.full_name,
        email=fields.email,
        phone=fields.phone,
        cnic=fields.cnic,
        address=fields.address,
    )


@dataclass(frozen=True, repr=False)
class PersonEntry:
    """One person to create, as given (validated by `create_people`)."""

    full_name: str
    email: str
    phone: str | None = None
    cnic: str | None = None
    address: AddressInput | None = None

    def __repr__(self) -> str:
        return "PersonEntry(...)"


def _validated(entry: PersonEntry, required: Collection[str]) -> _Fields:
    phone = _optional(entry.phone)
    cnic = _optional(entry.cnic)
    fields = _Fields(
        full_name=normalize_full_name(entry.full_name),
        email=normalize_email(entry.email),
        phone=normalize_phone(phone) if phone is not None else None,
        cnic=normalize_cnic(cnic) if cnic is not None else None,
        address=normalize_address(entry.address) if entry.address is not None else None,
    )
    _check_required(fields, required)
    return fields


def validate_person_entry(entry: PersonEntry, *, required: Collection[str] = ()) -> None:
    """Refuse ``entry`` as `create_people` would before any look-up (each field's rules, then
    the operator's ``required`` fields); nothing is stored."""
    _validated(entry, required)


async def _taken_digests(
    session: AsyncSession, column: InstrumentedAttribute[Any], digests: Collection[bytes]
) -> set[bytes]:
    taken: set[bytes] = set()
    ordered = list(digests)
    # Bounded IN lists: SQLite allows 32,766 parameters, and short lists plan well everywhere.
    for start in range(0, len(ordered), _UNIQUENESS_CHUNK):
        chunk = ordered[start : start + _UNIQUENESS_CHUNK]
        taken.update(await session.scalars(select(column).where(column.in_(chunk))))
    return taken


async def create_people(
    session: AsyncSession,
    ring: MasterKeyring,
    *,
    account_id: str,
    entries: Sequence[PersonEntry],
    required: Collection[str] = (),
) -> list[PersonData | AmanatError]:
    """Validate, encrypt and store many people with a few statements; one outcome per entry:
    the stored person, or why that entry was refused (nothing stored for it). Email and CNIC
    must be unused platform-wide and within ``entries``."""
    outcomes: list[PersonData | AmanatError | _Fields] = []
    for entry in entries:
        try:
            outcomes.append(_validated(entry, required))
        except AmanatError as exc:
            outcomes.append(exc)
    email_keys: dict[int, list[bytes]] = {}
    cnic_keys: dict[int, list[bytes]] = {}
    for position, outcome in enumerate(outcomes):
        if isinstance(outcome, _Fields):
            email_keys[position] = lookup_digests(ring, EMAIL_KIND, email_lookup_key(outcome.email))
            if outcome.cnic is not None:
                cnic_keys[position] = lookup_digests(ring, CNIC_KIND, outcome.cnic)
    taken_emails = await _taken_digests(
        session, Person.email_index, {d for ds in email_keys.values() for d in ds}
    )
    taken_cnics = await _taken_digests(
        session, Person.cnic_index, {d for ds in cnic_keys.values() for d in ds}
    )

    index_key = blind_index_key_from(ring)
    now = utcnow()
    key_rows: list[dict[str, object]] = []
    person_rows: list[dict[str, object]] = []
    word_rows: list[dict[str, object]] = []
    results: list[PersonData | AmanatError] = []
    for position, outcome in enumerate(outcomes):
        if not isinstance(outcome, _Fields):
            results.append(outcome)
            continue
        fields = outcome
        if taken_emails.intersection(email_keys[position]):
            results.append(_email_taken())
            continue
        if taken_cnics.intersection(cnic_keys.get(position, ())):
            results.append(_cnic_taken())
            continue
        # Later entries must not reuse what this one takes.
        taken_emails.update(email_keys[position])
        taken_cnics.update(cnic_keys.get(position, ()))
        person_id = new_id()
        data_key = new_data_key()
        wrapped = wrap_data_key(ring, data_key, subject=person_id)
        key_rows.append(
            {
                "person_id": person_id,
                "master_version": wrapped.master_version,
                "wrapped": wrapped.blob,
            }
        )
        person_rows.append(
            {
                "id": person_id,
                "account_id": account_id,
                **{
                    column: _seal_optional(data_key, person_id, column, fields.plaintext(column))
                    for column in PERSON_FIELDS
                },
                **_index_values(index_key, fields),
                "created_at": now,
                "updated_at": now,
            }
        )
        word_rows.extend(
            {"person_id": person_id, "account_id": account_id, "digest": digest}
            for digest in _name_word_digests(index_key, fields)
        )
        results.append(
            PersonData(
                id=person_id,
                account_id=account_id,
                full_name=fields.full_name,
                email=fields.email,
                phone=fields.phone,
                cnic=fields.cnic,
                address=fields.address,
            )
        )
    if person_rows:
        # Core inserts of the tables (routed by their model to the right database): the ORM's
        # bulk path would inspect every row's dictionary again on the way.
        for model, rows in (
            (PersonKey, key_rows),
            (Person, person_rows),
            (PersonNameWord, word_rows),
        ):
            if rows:
                table = cast(Table, model.__table__)
                await session.execute(insert(table), rows, bind_arguments={"mapper": model})
    return results


async def create_person(
    session: AsyncSession,
    ring: MasterKeyring,
    *,
    account_id: str,
    full_name: str,
    email: str,
    phone: str | None = None,
    cnic: str | None = None,
    address: AddressInput | None = None,
    required: Collection[str] = (),
) -> PersonData:
    """Validate, encrypt and store a person. Email and CNIC must be unused platform-wide;
    ``required`` names the optional fields the operator demands (phone, cnic, address)."""
    entry = PersonEntry(full_name=full_name, email=email, phone=phone, cnic=cnic, address=address)
    [outcome] = await create_people(
        session, ring, account_id=account_id, entries=[entry], required=required
    )
    if isinstance(outcome, AmanatError):
        raise outcome
    return outcome


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


def _decrypted(ring: MasterKeyring, row: Person, key_row: PersonKey) -> tuple[bytes, _Fields]:
    data_key = unwrap_data_key(
        ring, WrappedKey(key_row.master_version, key_row.wrapped), subject=row.id
    )

    def field(column: str, blob: bytes | None) -> str | None:
        if blob is None:
            return None
        return decrypt_value(data_key, blob, table=TABLE, column=column, row_id=row.id)

    address = field("address", row.address)
    fields = _Fields(
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


async def _load(
    session: AsyncSession, ring: MasterKeyring, person_id: str
) -> tuple[Person, bytes, _Fields]:
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
    row, _key, fields = await _load(session, ring, person_id)
    return _person_data(row, fields)


async def read_people(
    session: AsyncSession, ring: MasterKeyring, rows: Sequence[Person]
) -> dict[str, PersonData | None]:
    """Decrypt many loaded people with one key-store query; None for a person whose key is
    gone or whose values do not authenticate (erased, or tampered with)."""
    keys: dict[str, PersonKey] = {}
    for start in range(0, len(rows), _UNIQUENESS_CHUNK):
        chunk = [row.id for row in rows[start : start + _UNIQUENESS_CHUNK]]
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
        found[row.id] = _person_data(row, fields)
    return found


async def read_people_by_id(
    session: AsyncSession, ring: MasterKeyring, person_ids: Collection[str]
) -> dict[str, PersonData | None]:
    """`read_people` for people named by id: two queries for any number of them (a list page
    does not read its people one by one). Ids of no one map to None."""
    wanted = list(dict.fromkeys(person_ids))
    rows: list[Person] = []
    for start in range(0, len(wanted), _UNIQUENESS_CHUNK):
        chunk = wanted[start : start + _UNIQUENESS_CHUNK]
        rows.extend(await session.scalars(select(Person).where(Person.id.in_(chunk))))
    found = await read_people(session, ring, rows)
    return {person_id: found.get(person_id) for person_id in wanted}


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
        fields = _Fields(data.full_name, data.email, data.phone, data.cnic, data.address)
        for column, value in _index_values(key, fields).items():
            setattr(row, column, value)
        words.extend(
            {"person_id": row.id, "account_id": row.account_id, "digest": digest}
            for digest in _name_word_digests(key, fields)
        )
    # The deletes must reach the database before the same (person, word) keys come back.
    await session.flush()
    if words:
        await session.execute(insert(PersonNameWord), words)


async def update_person(
    session: AsyncSession,
    ring: MasterKeyring,
    person_id: str,
    *,
    required: Collection[str] = (),
    **changes: object,
) -> PersonData:
    """Change some of a person's fields (``full_name``, ``email``, ``phone``, ``cnic``,
    ``address``; None or blank clears an optional one). Changed values are re-encrypted and
    every blind index is recomputed under the current master version."""
    unknown = set(changes) - set(PERSON_FIELDS)
    if unknown:
        raise InvalidInput(
            "Only full_name, email, phone, cnic and address can be changed.",
            code="unknown_field",
        )
    row, data_key, current = await _load(session, ring, person_id)
    fields = current
    for name, value in changes.items():
        if name == "address":
            if value is not None and not isinstance(value, Mapping | PostalAddress):
                raise InvalidInput("Address is not valid.", code="invalid_address", field=name)
            fields = replace(fields, address=normalize_address(value) if value else None)
            continue
        if value is not None and not isinstance(value, str):
            raise InvalidInput("This field must be text.", code=f"invalid_{name}", field=name)
        text = _optional(value)
        if name == "full_name":
            fields = replace(fields, full_name=normalize_full_name(text or ""))
        elif name == "email":
            fields = replace(fields, email=normalize_email(text or ""))
        elif name == "phone":
            fields = replace(fields, phone=normalize_phone(text) if text else None)
        else:
            fields = replace(fields, cnic=normalize_cnic(text) if text else None)
    _check_required(fields, required)
    await _ensure_unique(session, ring, fields, except_person=person_id)
    for column in PERSON_FIELDS:
        if fields.plaintext(column) != current.plaintext(column):
            setattr(
                row, column, _seal_optional(data_key, person_id, column, fields.plaintext(column))
            )
    await session.execute(delete(PersonNameWord).where(PersonNameWord.person_id == person_id))
    _apply_indexes(session, ring, row, fields)
    row.updated_at = utcnow()
    await session.flush()
    return _person_data(row, fields)


async def erase_person(session: AsyncSession, person_id: str) -> None:
    """Crypto-shred: delete the data key, then the ciphertext and indexes."""
    await session.execute(delete(PersonKey).where(PersonKey.person_id == person_id))
    await session.execute(delete(PersonNameWord).where(PersonNameWord.person_id == person_id))
    await session.execute(delete(Person).where(Person.id == person_id))
    await session.flush()
