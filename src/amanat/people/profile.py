"""A person's own changes of contact details, confirmed before they take effect.

A new email address (or phone number) waits in `pending_contact_change` until its owner proves
they receive messages there: with the one-time link token or the 6-digit code sent to the new
address. Rules (ASVS V2.3.1–3, V2.4.1, V6.4.1):

- a change lives `CHANGE_VALID_FOR` (30 minutes) and is used once; a newer request for the
  same field closes the older one;
- the token (256 bits) is stored as its SHA-256; the code as a keyed HMAC (blind-index key of
  the master ring), since six digits hashed without a key are found by trying them all;
- a wrong code counts against every open change of the person; at `MAX_CODE_ATTEMPTS` a
  change is closed for good;
- at most `CHANGE_REQUESTS_PER_HOUR` requests per person, so the form cannot flood a mailbox;
- uniqueness of the new email is checked at confirmation, not at the request: the request
  would otherwise tell anyone signed in which addresses are registered.

Who may ask and what to mail where is the caller's business (`amanat.people.self_service`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, get_args

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.core.clock import utcnow
from amanat.core.crypto import (
    DecryptionError,
    KeyringError,
    MasterKeyring,
    blind_index_key_from,
    compute_blind_index,
)
from amanat.core.errors import InvalidInput, TooManyRequests
from amanat.core.ids import new_id
from amanat.people.models import PendingContactChange
from amanat.people.personal_data import PersonData, read_person
from amanat.people.registry import update_person
from amanat.people.sealing import PersonSeal, person_seal
from amanat.people.validation import normalize_email, normalize_phone

_TABLE = PendingContactChange.__tablename__
_CODE_KIND = "contact_change_code"

CHANGE_VALID_FOR = timedelta(minutes=30)
MAX_CODE_ATTEMPTS = 5
CHANGE_REQUESTS_PER_HOUR = 5
CODE_DIGITS = 6
TOKEN_BYTES = 32

ContactField = Literal["email", "phone"]
CONTACT_FIELDS: tuple[str, ...] = get_args(ContactField)

_INVALID = "This confirmation is not valid any more. Ask for the change again."


@dataclass(frozen=True, repr=False)
class ContactChangeRequest:
    """A new pending change and its two secrets, to be sent to the new address only."""

    id: str
    field: str
    new_value: str
    token: str
    code: str
    expires_at: datetime

    def __repr__(self) -> str:
        return f"ContactChangeRequest(id={self.id!r}, field={self.field!r})"


@dataclass(frozen=True, repr=False)
class PendingChange:
    """An open change as its person sees it."""

    id: str
    field: str
    new_value: str
    expires_at: datetime

    def __repr__(self) -> str:
        return f"PendingChange(id={self.id!r}, field={self.field!r})"


@dataclass(frozen=True, repr=False)
class ConfirmedChange:
    """A change that took effect: the person as they are now and the value they had before."""

    field: str
    old_value: str | None
    person: PersonData

    def __repr__(self) -> str:
        return f"ConfirmedChange(field={self.field!r})"


def _invalid() -> InvalidInput:
    # One answer for unknown, used, expired and exhausted: nothing to learn from the difference.
    return InvalidInput(_INVALID, code="confirmation_invalid")


def _token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def _code_digest(ring: MasterKeyring, version: int, change_id: str, code: str) -> bytes:
    key = blind_index_key_from(ring, version)
    return compute_blind_index(key, _CODE_KIND, f"{change_id}:{code}")


def _code_matches(ring: MasterKeyring, row: PendingContactChange, code: str) -> bool:
    try:
        expected = _code_digest(ring, row.code_key_version, row.id, code)
    except KeyringError:
        return False  # made under a master version the ring no longer holds
    return hmac.compare_digest(expected, row.code_hash)


def normalize_contact(field: str, value: str) -> str:
    """The stored form of a new email address or phone number (per-field errors)."""
    if field == "email":
        return normalize_email(value)
    if field == "phone":
        return normalize_phone(value)
    raise InvalidInput("Only email and phone changes need confirmation.", code="unknown_field")


def _is_open(row: PendingContactChange, now: datetime) -> bool:
    return row.closed_at is None and row.expires_at > now and row.attempts < MAX_CODE_ATTEMPTS


async def check_request_allowance(session: AsyncSession, person_id: str) -> None:
    """Refuse (429) a further change request beyond `CHANGE_REQUESTS_PER_HOUR`."""
    since = utcnow() - timedelta(hours=1)
    recent = await session.scalar(
        select(func.count()).where(
            PendingContactChange.person_id == person_id, PendingContactChange.created_at > since
        )
    )
    if (recent or 0) >= CHANGE_REQUESTS_PER_HOUR:
        raise TooManyRequests(
            "Too many change requests.",
            code="contact_change_throttled",
            retry_after=3600,
        )


async def request_contact_change(
    session: AsyncSession,
    ring: MasterKeyring,
    *,
    person_id: str,
    field: str,
    new_value: str,
) -> ContactChangeRequest:
    """Record a wanted change of ``field`` and make its link token and code (shown once)."""
    value = normalize_contact(field, new_value)
    await check_request_allowance(session, person_id)
    now = utcnow()
    person = await read_person(session, ring, person_id)
    seal = await person_seal(session, ring, person_id)
    await session.execute(
        update(PendingContactChange)
        .where(
            PendingContactChange.person_id == person_id,
            PendingContactChange.field == field,
            PendingContactChange.closed_at.is_(None),
        )
        .values(closed_at=now)
        .execution_options(synchronize_session=False)
    )
    change_id = new_id()
    token = secrets.token_urlsafe(TOKEN_BYTES)
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    version = ring.current_version
    row = PendingContactChange(
        id=change_id,
        account_id=person.account_id,
        person_id=person_id,
        field=field,
        new_value=seal.seal(value, table=_TABLE, column="new_value", row_id=change_id),
        token_hash=_token_digest(token),
        code_hash=_code_digest(ring, version, change_id, code),
        code_key_version=version,
        attempts=0,
        created_at=now,
        expires_at=now + CHANGE_VALID_FOR,
    )
    session.add(row)
    await session.flush()
    return ContactChangeRequest(change_id, field, value, token, code, row.expires_at)


def _opened(seal: PersonSeal, row: PendingContactChange) -> str:
    return seal.open(row.new_value, table=_TABLE, column="new_value", row_id=row.id)


async def _open_rows(session: AsyncSession, person_id: str) -> list[PendingContactChange]:
    now = utcnow()
    rows = await session.scalars(
        select(PendingContactChange)
        .where(
            PendingContactChange.person_id == person_id,
            PendingContactChange.closed_at.is_(None),
            PendingContactChange.expires_at > now,
        )
        .order_by(PendingContactChange.created_at)
        .execution_options(populate_existing=True)
    )
    return [row for row in rows if _is_open(row, now)]


async def pending_changes(
    session: AsyncSession, ring: MasterKeyring, person_id: str
) -> list[PendingChange]:
    """The person's open changes (at most one per field), oldest first."""
    rows = await _open_rows(session, person_id)
    if not rows:
        return []
    seal = await person_seal(session, ring, person_id)
    return [PendingChange(row.id, row.field, _opened(seal, row), row.expires_at) for row in rows]


async def person_for_token(session: AsyncSession, token: str) -> str:
    """The person whose open change the link token confirms (nothing is used up)."""
    row = await session.scalar(
        select(PendingContactChange).where(PendingContactChange.token_hash == _token_digest(token))
    )
    if row is None or not _is_open(row, utcnow()):
        raise _invalid()
    return row.person_id


async def _by_code(
    session: AsyncSession, ring: MasterKeyring, person_id: str, code: str
) -> PendingContactChange:
    rows = await _open_rows(session, person_id)
    digits = code.strip()
    for row in rows:
        if len(digits) == CODE_DIGITS and digits.isdigit() and _code_matches(ring, row, digits):
            return row
    now = utcnow()
    for row in rows:
        row.attempts += 1
        if row.attempts >= MAX_CODE_ATTEMPTS:
            row.closed_at = now
    await session.flush()
    # keep_changes: the failed attempt must count even though the request fails.
    raise InvalidInput(
        "That code is not right." if rows else _INVALID,
        code="confirmation_invalid",
        field="code",
        keep_changes=True,
    )


async def confirm_contact_change(
    session: AsyncSession,
    ring: MasterKeyring,
    *,
    person_id: str,
    token: str | None = None,
    code: str | None = None,
    required: Collection[str] = (),
) -> ConfirmedChange:
    """Apply an open change of this person, proven by its link token or its code; once only.

    Uniqueness of a new email is checked here (409 `email_taken`), and the change stays open.
    """
    if (token is None) == (code is None):
        raise InvalidInput("Give the code or the link token.", code="invalid_input")
    if token is not None:
        row = await session.scalar(
            select(PendingContactChange)
            .where(
                PendingContactChange.token_hash == _token_digest(token),
                PendingContactChange.person_id == person_id,
            )
            .execution_options(populate_existing=True)
        )
        if row is None or not _is_open(row, utcnow()):
            raise _invalid()
    else:
        assert code is not None
        row = await _by_code(session, ring, person_id, code)
    seal = await person_seal(session, ring, person_id)
    try:
        new_value = _opened(seal, row)
    except DecryptionError:
        raise _invalid() from None
    before = await read_person(session, ring, person_id)
    old_value: str | None = before.email if row.field == "email" else before.phone
    person = await update_person(
        session, ring, person_id, required=required, **{row.field: new_value}
    )
    # Conditional: of two confirmations at once, exactly one applies the change.
    closed = await session.execute(
        update(PendingContactChange)
        .where(PendingContactChange.id == row.id, PendingContactChange.closed_at.is_(None))
        .values(closed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if getattr(closed, "rowcount", 0) != 1:
        raise _invalid()
    return ConfirmedChange(field=row.field, old_value=old_value, person=person)
