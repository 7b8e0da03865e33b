"""The register of people: enter a person (or many at once), correct their fields, erase them.

Every value given is validated, encrypted under the person's own data key and indexed by its
blind indexes; email and CNIC must be unused platform-wide. Erasing deletes the data key first
(crypto-shredding), then the ciphertext and indexes.

An admin's door must not tell whether another customer account has a person with some email
or CNIC: with ``hold_foreign`` such a value is stored as a held claim (`blind_index`) and the
caller gets it back as a `HeldField` (to tell its holder and audit it), while a conflict
within the entering account is still refused (`email_taken`, `cnic_taken`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import cast

from sqlalchemy import Table, delete, insert
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.core.clock import utcnow
from amanat.core.crypto import (
    MasterKeyring,
    blind_index_key_from,
    new_data_key,
    wrap_data_key,
)
from amanat.core.errors import AmanatError, InvalidInput
from amanat.core.ids import new_id
from amanat.people.blind_index import (
    CNIC_KIND,
    EMAIL_KIND,
    Entered,
    HeldField,
    Holder,
    apply_indexes,
    cnic_taken,
    email_taken,
    held_verdict,
    holders_of,
    index_values,
    lookup_digests,
    name_word_digests,
    resolve_claims,
)
from amanat.people.models import Person, PersonKey, PersonNameWord
from amanat.people.personal_data import (
    PERSON_FIELDS,
    AddressInput,
    PersonData,
    PersonFields,
    load_person,
    person_data,
    seal_optional,
)
from amanat.people.validation import (
    IDENTITY_FIELDS,
    PostalAddress,
    email_lookup_key,
    normalize_address,
    normalize_cnic,
    normalize_email,
    normalize_full_name,
    normalize_phone,
    refuse_empty,
)

_REQUIRED_LABELS = {"phone": "Phone number", "cnic": "CNIC", "address": "Postal address"}


def _optional(value: str | None) -> str | None:
    # A blank form field means "not given", as an omitted one does.
    return value if value is not None and value.strip() else None


def _check_required(fields: PersonFields, required: Collection[str]) -> None:
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


def _validated(entry: PersonEntry, required: Collection[str]) -> PersonFields:
    phone = _optional(entry.phone)
    cnic = _optional(entry.cnic)
    fields = PersonFields(
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


async def enter_people(
    session: AsyncSession,
    ring: MasterKeyring,
    *,
    account_id: str,
    entries: Sequence[PersonEntry],
    required: Collection[str] = (),
    hold_foreign: bool = False,
) -> list[Entered | AmanatError]:
    """Validate, encrypt and store many people with a few statements; one outcome per entry:
    the stored person, or why that entry was refused (nothing stored for it). Email and CNIC
    must be unused platform-wide and within ``entries``; with ``hold_foreign`` a value another
    account's person holds is stored as a held claim instead (`HeldField`)."""
    outcomes: list[PersonData | AmanatError | PersonFields] = []
    for entry in entries:
        try:
            outcomes.append(_validated(entry, required))
        except AmanatError as exc:
            outcomes.append(exc)
    email_keys: dict[int, list[bytes]] = {}
    cnic_keys: dict[int, list[bytes]] = {}
    for position, outcome in enumerate(outcomes):
        if isinstance(outcome, PersonFields):
            email_keys[position] = lookup_digests(ring, EMAIL_KIND, email_lookup_key(outcome.email))
            if outcome.cnic is not None:
                cnic_keys[position] = lookup_digests(ring, CNIC_KIND, outcome.cnic)
    email_holders = await holders_of(
        session, Person.email_index, {d for ds in email_keys.values() for d in ds}
    )
    cnic_holders = await holders_of(
        session, Person.cnic_index, {d for ds in cnic_keys.values() for d in ds}
    )

    index_key = blind_index_key_from(ring)
    now = utcnow()
    key_rows: list[dict[str, object]] = []
    person_rows: list[dict[str, object]] = []
    word_rows: list[dict[str, object]] = []
    results: list[Entered | AmanatError] = []
    # An entry earlier in ``entries`` counts as one of the account's own people.
    ours = Holder(person_id="", account_id=account_id, held=False)
    for position, outcome in enumerate(outcomes):
        if not isinstance(outcome, PersonFields):
            results.append(cast(AmanatError, outcome))
            continue
        fields = outcome
        email_verdict = held_verdict(
            [h for d in email_keys[position] for h in email_holders.get(d, ())],
            account_id,
            hold_foreign=hold_foreign,
            refusal=email_taken(),
        )
        if isinstance(email_verdict, AmanatError):
            results.append(email_verdict)
            continue
        cnic_verdict = held_verdict(
            [h for d in cnic_keys.get(position, ()) for h in cnic_holders.get(d, ())],
            account_id,
            hold_foreign=hold_foreign,
            refusal=cnic_taken(),
        )
        if isinstance(cnic_verdict, AmanatError):
            results.append(cnic_verdict)
            continue
        # Later entries must not reuse what this one takes.
        for digest in email_keys[position]:
            email_holders.setdefault(digest, []).append(ours)
        for digest in cnic_keys.get(position, ()):
            cnic_holders.setdefault(digest, []).append(ours)
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
        indexes = index_values(index_key, fields)
        held: list[HeldField] = []
        for name, verdict in (("email", email_verdict), ("cnic", cnic_verdict)):
            if isinstance(verdict, Holder):
                index = indexes[f"{name}_index"]
                assert isinstance(index, bytes)
                held.append(HeldField(name, verdict.person_id, verdict.account_id, index))
        person_rows.append(
            {
                "id": person_id,
                "account_id": account_id,
                **{
                    column: seal_optional(data_key, person_id, column, fields.plaintext(column))
                    for column in PERSON_FIELDS
                },
                **indexes,
                "email_held": isinstance(email_verdict, Holder),
                "cnic_held": isinstance(cnic_verdict, Holder),
                "created_at": now,
                "updated_at": now,
            }
        )
        word_rows.extend(
            {"person_id": person_id, "account_id": account_id, "digest": digest}
            for digest in name_word_digests(index_key, fields)
        )
        person = PersonData(
            id=person_id,
            account_id=account_id,
            full_name=fields.full_name,
            email=fields.email,
            phone=fields.phone,
            cnic=fields.cnic,
            address=fields.address,
        )
        results.append(Entered(person, tuple(held)))
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


async def create_people(
    session: AsyncSession,
    ring: MasterKeyring,
    *,
    account_id: str,
    entries: Sequence[PersonEntry],
    required: Collection[str] = (),
) -> list[PersonData | AmanatError]:
    """`enter_people` refusing every email or CNIC in use (no held claims)."""
    return [
        outcome.person if isinstance(outcome, Entered) else outcome
        for outcome in await enter_people(
            session, ring, account_id=account_id, entries=entries, required=required
        )
    ]


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


async def update_person(
    session: AsyncSession,
    ring: MasterKeyring,
    person_id: str,
    *,
    required: Collection[str] = (),
    **changes: object,
) -> PersonData:
    """Change some of a person's fields (``full_name``, ``email``, ``phone``, ``cnic``,
    ``address``; None clears an optional one, an empty or blank text is refused with
    `empty_value`). Changed values are re-encrypted and every blind index is recomputed under
    the current master version. A new email or CNIC in use by anyone is refused."""
    entered = await correct_person(session, ring, person_id, required=required, changes=changes)
    return entered.person


def _changed_fields(current: PersonFields, changes: Mapping[str, object]) -> PersonFields:
    unknown = set(changes) - set(PERSON_FIELDS)
    if unknown:
        raise InvalidInput(
            "Only full_name, email, phone, cnic and address can be changed.",
            code="unknown_field",
        )
    fields = current
    for name, value in changes.items():
        if name == "address":
            if value is not None and not isinstance(value, Mapping | PostalAddress):
                raise InvalidInput("Address is not valid.", code="invalid_address", field=name)
            address = normalize_address(value) if value is not None else None
            fields = replace(fields, address=address)
            continue
        if value is not None and not isinstance(value, str):
            raise InvalidInput("This field must be text.", code=f"invalid_{name}", field=name)
        refuse_empty(name, value)
        text = value if isinstance(value, str) else None
        if name == "full_name":
            fields = replace(fields, full_name=normalize_full_name(text or ""))
        elif name == "email":
            fields = replace(fields, email=normalize_email(text or ""))
        elif name == "phone":
            fields = replace(fields, phone=normalize_phone(text) if text else None)
        else:
            fields = replace(fields, cnic=normalize_cnic(text) if text else None)
    return fields


async def correct_person(
    session: AsyncSession,
    ring: MasterKeyring,
    person_id: str,
    *,
    changes: Mapping[str, object],
    required: Collection[str] = (),
    hold_foreign: bool = False,
) -> Entered:
    """`update_person`; with ``hold_foreign``, a new email or CNIC another account's person
    holds is stored as a held claim (in `Entered.held`) instead of refused. Only a value that
    changes is checked: one already held stays held."""
    row, data_key, current = await load_person(session, ring, person_id)
    fields = _changed_fields(current, changes)
    _check_required(fields, required)
    held: list[HeldField] = []
    for name, column, kind, refusal in (
        ("email", Person.email_index, EMAIL_KIND, email_taken),
        ("cnic", Person.cnic_index, CNIC_KIND, cnic_taken),
    ):
        value = fields.plaintext(name)
        if value == current.plaintext(name):
            continue
        if getattr(row, f"{name}_held"):  # the held value goes: so does its claim
            await resolve_claims(session, field=name, person_id=person_id, at=utcnow())
        setattr(row, f"{name}_held", False)
        if value is None:
            continue
        digests = lookup_digests(ring, kind, email_lookup_key(value) if name == "email" else value)
        found = await holders_of(session, column, digests)
        holders = [h for d in digests for h in found.get(d, ()) if h.person_id != person_id]
        verdict = held_verdict(
            holders, row.account_id, hold_foreign=hold_foreign, refusal=refusal()
        )
        if isinstance(verdict, AmanatError):
            raise verdict
        if verdict is not None:
            setattr(row, f"{name}_held", True)
            held.append(HeldField(name, verdict.person_id, verdict.account_id, digests[0]))
    for column_name in PERSON_FIELDS:
        if fields.plaintext(column_name) != current.plaintext(column_name):
            setattr(
                row,
                column_name,
                seal_optional(data_key, person_id, column_name, fields.plaintext(column_name)),
            )
    await session.execute(delete(PersonNameWord).where(PersonNameWord.person_id == person_id))
    apply_indexes(session, ring, row, fields)
    row.updated_at = utcnow()
    await session.flush()
    return Entered(person_data(row, fields), tuple(held))


async def erase_person(session: AsyncSession, person_id: str) -> None:
    """Crypto-shred: delete the data key, then the ciphertext and indexes."""
    await session.execute(delete(PersonKey).where(PersonKey.person_id == person_id))
    await session.execute(delete(PersonNameWord).where(PersonNameWord.person_id == person_id))
    await session.execute(delete(Person).where(Person.id == person_id))
    await session.flush()
