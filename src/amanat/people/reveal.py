"""Purpose-bound reveal of personal data (policy §2 and §4, ASVS V8.2.3, V14.2.4).

Everyone but the person sees their data masked. An authorized actor may see one field of one
person in the clear by naming a purpose from the policy's §2 and a reason. Each reveal:

- is decided by the caller, who knows roles and accounts (`identity`), and passed in as
  ``may_reveal``; this module refuses when it is false, so the default is "no";
- is bounded per actor (`Settings.reveal_limit_per_hour`, counted from the access rows);
- leaves a `personal_data_access` row (the reason sealed under the person's data key: it may
  name them) and an audit record `people.reveal` with the field, purpose and that row's id,
  never a value;
- can be read back by the person: who looked, when, at what and why (`data_access_of`).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Literal, get_args

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.audit.actors import AuditActor
from amanat.audit.records import record_event
from amanat.core.clock import utcnow
from amanat.core.crypto import DecryptionError, KeyringError, MasterKeyring
from amanat.core.crypto.envelope import decrypt_value, encrypt_value
from amanat.core.errors import Forbidden, InvalidInput, NotFound, TooManyRequests
from amanat.core.ids import new_id
from amanat.people.models import PersonalDataAccess
from amanat.people.personal_data import PersonData, read_person
from amanat.people.sealing import person_seal
from amanat.people.validation import PostalAddress, clean_text

_TABLE = PersonalDataAccess.__tablename__
REASON_MIN = 5
REASON_MAX = 300
RATE_WINDOW = timedelta(hours=1)
ACCESS_LIST_LIMIT = 200
# How long a revealed value waits, sealed, for the one page that shows it (POST/redirect/GET).
DISPLAY_FOR = timedelta(minutes=2)
_DISPLAY_KEY = "reveal-display"
_DISPLAY_PLACE = "reveal_display"

RevealableField = Literal["full_name", "email", "phone", "cnic", "address"]
REVEALABLE_FIELDS: tuple[str, ...] = get_args(RevealableField)

FIELD_LABELS = {
    "full_name": "full name",
    "email": "email address",
    "phone": "phone number",
    "cnic": "CNIC",
    "address": "postal address",
}


class Purpose(StrEnum):
    """Why personal data may be looked at: the purposes of the privacy policy's §2."""

    ACCOUNT_MANAGEMENT = "account_management"
    IDENTITY_VERIFICATION = "identity_verification"
    CUSTOMER_SUPPORT = "customer_support"

    @property
    def label(self) -> str:
        return PURPOSE_LABELS[self]


# In the policy's own words (§2 "Why do we collect").
PURPOSE_LABELS = {
    Purpose.ACCOUNT_MANAGEMENT: "Managing the customer account",
    Purpose.IDENTITY_VERIFICATION: "Verifying identity",
    Purpose.CUSTOMER_SUPPORT: "Customer communication and support",
}


@dataclass(frozen=True, repr=False)
class RevealedValue:
    """One field shown in the clear, once. Never logged; ``value`` is None when the person has
    not given that field."""

    access_id: str
    field: str
    purpose: Purpose
    value: str | None
    at: datetime

    def __repr__(self) -> str:
        return f"RevealedValue(access_id={self.access_id!r}, field={self.field!r})"


@dataclass(frozen=True, repr=False)
class DataAccess:
    """One reveal as its person reads it; ``reason`` is None when it can no longer be opened."""

    id: str
    at: datetime
    actor_id: str
    actor_role: str
    field: str
    purpose: str
    reason: str | None

    def __repr__(self) -> str:
        return f"DataAccess(id={self.id!r})"


def normalize_reason(value: str) -> str:
    """Plain text of 5–300 characters on one line (whitespace collapsed, no control characters)."""
    text = clean_text(value)
    if text is None:
        raise InvalidInput(
            "The reason contains characters that are not allowed.",
            code="invalid_reason",
            field="reason",
        )
    if not REASON_MIN <= len(text) <= REASON_MAX:
        raise InvalidInput(
            f"Give a reason of {REASON_MIN} to {REASON_MAX} characters.",
            code="invalid_reason",
            field="reason",
        )
    return text


def format_address(address: PostalAddress) -> str:
    """An address on one line, as a person writes it on an envelope."""
    region = " ".join(part for part in (address.province, address.postal_code) if part)
    parts = (address.line1, address.line2, address.city, region, address.country)
    return ", ".join(part for part in parts if part)


def field_value(person: PersonData, field: str) -> str | None:
    """The display form of one field (phone international, CNIC with dashes)."""
    if field == "full_name":
        return person.full_name
    if field == "email":
        return person.email
    if field == "phone":
        return person.phone_display
    if field == "cnic":
        return person.cnic_display
    if field == "address":
        return format_address(person.address) if person.address is not None else None
    raise InvalidInput("No such field.", code="unknown_field", field="field")


async def _check_rate(
    session: AsyncSession, actor_user_id: str, limit_per_hour: int, now: datetime
) -> None:
    since = now - RATE_WINDOW
    count, oldest = (
        await session.execute(
            select(func.count(), func.min(PersonalDataAccess.at)).where(
                PersonalDataAccess.actor_id == actor_user_id, PersonalDataAccess.at > since
            )
        )
    ).one()
    if count >= limit_per_hour:
        wait = (oldest + RATE_WINDOW - now).total_seconds() if oldest is not None else 60
        raise TooManyRequests(
            f"You may reveal personal data at most {limit_per_hour} times an hour.",
            code="reveal_rate_limited",
            retry_after=max(1, int(wait + 0.999)),
        )


async def reveal_personal_data(
    session: AsyncSession,
    ring: MasterKeyring,
    *,
    actor_user_id: str,
    actor_role: str,
    person_id: str,
    field: str,
    purpose: Purpose | str,
    reason: str,
    may_reveal: bool,
    limit_per_hour: int,
) -> RevealedValue:
    """Show one field of one person in the clear for a §2 purpose, once; audited and bounded.

    ``may_reveal`` is the caller's authorization decision for this actor, person and purpose.
    """
    if not may_reveal:
        raise Forbidden("You may not reveal this person's data.", code="reveal_not_allowed")
    if field not in REVEALABLE_FIELDS:
        raise InvalidInput("No such field.", code="unknown_field", field="field")
    try:
        chosen = Purpose(purpose)
    except ValueError:
        raise InvalidInput(
            "Name a purpose from the privacy policy.", code="unknown_purpose", field="purpose"
        ) from None
    reason_text = normalize_reason(reason)
    now = utcnow()
    await _check_rate(session, actor_user_id, limit_per_hour, now)
    person = await read_person(session, ring, person_id)
    seal = await person_seal(session, ring, person_id)
    access_id = new_id()
    session.add(
        PersonalDataAccess(
            id=access_id,
            account_id=person.account_id,
            person_id=person_id,
            actor_id=actor_user_id,
            actor_role=actor_role,
            field=field,
            purpose=chosen.value,
            reason=seal.seal(reason_text, table=_TABLE, column="reason", row_id=access_id),
            at=now,
        )
    )
    await session.flush()
    await record_event(
        session,
        actor=AuditActor(user_id=actor_user_id, role=actor_role),
        action="people.reveal",
        account_id=person.account_id,
        target_type="person",
        target_id=person_id,
        purpose=chosen.value,
        details={"field": field, "access_id": access_id},
        at=now,
    )
    return RevealedValue(
        access_id=access_id,
        field=field,
        purpose=chosen,
        value=field_value(person, field),
        at=now,
    )


async def data_access_of(
    session: AsyncSession, ring: MasterKeyring, person_id: str, *, limit: int = ACCESS_LIST_LIMIT
) -> list[DataAccess]:
    """Every reveal of this person's data, newest first, with the reasons opened."""
    rows = (
        await session.scalars(
            select(PersonalDataAccess)
            .where(PersonalDataAccess.person_id == person_id)
            .order_by(PersonalDataAccess.at.desc(), PersonalDataAccess.id)
            .limit(limit)
        )
    ).all()
    if not rows:
        return []
    try:
        seal = await person_seal(session, ring, person_id)
    except NotFound:
        seal = None
    found: list[DataAccess] = []
    for row in rows:
        reason: str | None = None
        if seal is not None:
            try:
                reason = seal.open(row.reason, table=_TABLE, column="reason", row_id=row.id)
            except DecryptionError:
                reason = None  # altered or moved: show the access, not a forged reason
        found.append(
            DataAccess(
                id=row.id,
                at=row.at,
                actor_id=row.actor_id,
                actor_role=row.actor_role,
                field=row.field,
                purpose=row.purpose,
                reason=reason,
            )
        )
    return found


# A page shows a revealed value after the reveal's redirect, so a reload repeats nothing: the
# value travels to that page sealed (AES-GCM under a subkey of the master key), bound to the
# viewer's session and the person, and expires within minutes. It is never in a URL or a log.


def seal_for_display(
    ring: MasterKeyring, revealed: RevealedValue, *, viewer: str, subject: str
) -> str:
    """`revealed` sealed for one showing to `viewer` (a session id) about `subject`."""
    version, _ = ring.current()
    payload = json.dumps(
        {
            "a": revealed.access_id,
            "f": revealed.field,
            "p": revealed.purpose.value,
            "v": revealed.value,
            "t": revealed.at.timestamp(),
        },
        ensure_ascii=False,
    )
    blob = encrypt_value(
        ring.subkey(version, _DISPLAY_KEY),
        payload,
        table=_DISPLAY_PLACE,
        column=viewer,
        row_id=subject,
    )
    return f"{version}.{base64.urlsafe_b64encode(blob).decode().rstrip('=')}"


def open_for_display(
    ring: MasterKeyring,
    sealed: str,
    *,
    viewer: str,
    subject: str,
    now: datetime | None = None,
) -> RevealedValue | None:
    """The value `seal_for_display` sealed for this viewer and subject, if still fresh; None for
    anything else (expired, altered, another session's or another person's)."""
    version_text, _, encoded = sealed.partition(".")
    if not version_text.isdigit() or not encoded or len(sealed) > 4096:
        return None
    try:
        blob = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        key = ring.subkey(int(version_text), _DISPLAY_KEY)
        data = json.loads(
            decrypt_value(key, blob, table=_DISPLAY_PLACE, column=viewer, row_id=subject)
        )
        at = datetime.fromtimestamp(float(data["t"]), tz=UTC)
        shown = RevealedValue(
            access_id=str(data["a"]),
            field=str(data["f"]),
            purpose=Purpose(data["p"]),
            value=data["v"] if isinstance(data["v"], str) else None,
            at=at,
        )
    except (binascii.Error, ValueError, KeyError, TypeError, KeyringError, DecryptionError):
        return None
    moment = now or utcnow()
    if not at <= moment <= at + DISPLAY_FOR or shown.field not in REVEALABLE_FIELDS:
        return None
    return shown
