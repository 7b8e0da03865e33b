"""A person changes their own data (policy §4 "user responsibility"; ASVS V7.5.1).

- Full name and postal address change at once.
- A new email address takes effect only once confirmed from that address (link or code, see
  `amanat.people.profile`); the old address is told that a change was asked for, and told
  again when it took effect (`amanat.people.contact_notices`).
- A new phone number likewise takes effect only once the person enters the code texted to it
  (`amanat.comms.sms`; no link: a text is read on the phone, the code is typed where the
  person is signed in). The old number, if any, and the email address are told that a change
  was asked for, and told again when it took effect; a removed number is told too.
- Changing or removing email or phone needs the current password first (re-authentication,
  which the door hands in: wrong passwords count against the user's sign-in throttle).
- The CNIC is identity-verification data: only an admin changes it, after checking it.
- A field left out is kept; None removes the phone number or the address; an empty or blank
  text is refused (`empty_value`), so nothing is erased by accident. (The HTML form reads its
  own blank fields, see `amanat.people.pages`.)

Everything is validated before anything is written, so a refusal leaves no half-done change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from amanat.audit.records import record_event
from amanat.comms.sms import TextMessageSender, text_sender_from_settings
from amanat.core.crypto import MasterKeyring
from amanat.core.errors import InvalidInput, NotFound
from amanat.core.settings import Settings
from amanat.people.account_holder import AccountHolder, HolderOfPerson, Reauthenticate
from amanat.people.contact_notices import (
    mail_contact_changed,
    tell_change_requested,
    text_old_phone,
)
from amanat.people.personal_data import PersonData, read_person
from amanat.people.profile import (
    ConfirmedChange,
    PendingChange,
    check_request_allowance,
    confirm_contact_change,
    pending_changes,
    person_for_token,
    request_contact_change,
)
from amanat.people.registry import update_person
from amanat.people.validation import (
    PostalAddress,
    normalize_address,
    normalize_email,
    normalize_full_name,
    normalize_phone,
    refuse_empty,
)

EDITABLE_FIELDS = frozenset({"full_name", "address", "email", "phone"})


@dataclass(frozen=True, repr=False)
class MyProfile:
    """A person's own data in full, and the changes waiting for confirmation."""

    person: PersonData
    pending: list[PendingChange]

    def __repr__(self) -> str:
        return f"MyProfile(person_id={self.person.id!r})"


def _person_id(holder: AccountHolder) -> str:
    if holder.person_id is None:
        raise NotFound("There is no personal data on this account.", code="person_not_found")
    return holder.person_id


async def my_profile(
    session: AsyncSession, ring: MasterKeyring, holder: AccountHolder
) -> MyProfile:
    """The holder's own data, unmasked (a person always sees their own), and pending changes."""
    person_id = _person_id(holder)
    person = await read_person(session, ring, person_id)
    return MyProfile(person, await pending_changes(session, ring, person_id))


async def _reauthenticate(reauthenticate: Reauthenticate, password: str | None) -> None:
    if not password:
        raise InvalidInput(
            "Enter your current password to change your email address or phone number.",
            code="current_password_required",
            field="current_password",
        )
    await reauthenticate(password)


def _text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInput("This field must be text.", code=f"invalid_{name}", field=name)
    return value


@dataclass
class _Plan:
    """What a profile update will do, worked out (and validated) before anything is written."""

    immediate: dict[str, object]
    new_email: str | None = None
    new_phone: str | None = None
    remove_phone: bool = False

    @property
    def confirmations(self) -> list[tuple[str, str]]:
        """The (field, new value) pairs that wait for a confirmation from the new address."""
        wanted = (("email", self.new_email), ("phone", self.new_phone))
        return [(name, value) for name, value in wanted if value is not None]


def _plan(settings: Settings, person: PersonData, changes: Mapping[str, object]) -> _Plan:
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise InvalidInput(
            "You can change your full name, address, email address and phone number.",
            code="unknown_field",
        )
    plan = _Plan(immediate={})
    required = set(settings.require_identity_fields)
    for field in ("full_name", "email", "phone"):
        # An empty text is not "no value": leave a field out to keep it, null removes the phone.
        refuse_empty(field, changes.get(field))
    if "full_name" in changes:
        name = normalize_full_name(_text("full_name", changes["full_name"] or ""))
        if name != person.full_name:
            plan.immediate["full_name"] = name
    if "address" in changes:
        raw = changes["address"]
        address: PostalAddress | None = None
        if raw is not None:
            if not isinstance(raw, Mapping):
                raise InvalidInput("Address is not valid.", code="invalid_address", field="address")
            address = normalize_address(raw)
        if address is None and "address" in required:
            raise InvalidInput(
                "Postal address is required for identity verification.",
                code="address_required",
                field="address",
            )
        if address != person.address:
            plan.immediate["address"] = address
    if "email" in changes:
        if changes["email"] is None:
            raise InvalidInput("Email address is required.", code="invalid_email", field="email")
        email = normalize_email(_text("email", changes["email"]))
        if email != person.email:
            plan.new_email = email
    if "phone" in changes:
        raw_phone = changes["phone"]
        if raw_phone is None:
            if "phone" in required:
                raise InvalidInput(
                    "Phone number is required for identity verification.",
                    code="phone_required",
                    field="phone",
                )
            plan.remove_phone = person.phone is not None
        else:
            phone = normalize_phone(_text("phone", raw_phone))
            if phone != person.phone:
                plan.new_phone = phone
    return plan


async def update_my_profile(
    session: AsyncSession,
    ring: MasterKeyring,
    settings: Settings,
    *,
    holder: AccountHolder,
    changes: Mapping[str, object],
    reauthenticate: Reauthenticate,
    current_password: str | None = None,
    texts: TextMessageSender | None = None,
) -> MyProfile:
    """Apply the holder's own changes: name and address at once; a new email address or phone
    number once confirmed from it.

    Changing email or phone, or removing the phone number, needs ``current_password``, checked
    by ``reauthenticate`` (V7.5.1). Text messages go to ``texts`` (default: the operator's
    settings).
    """
    person_id = _person_id(holder)
    person = await read_person(session, ring, person_id)
    old_phone = person.phone
    plan = _plan(settings, person, changes)
    if plan.confirmations:
        await check_request_allowance(session, person_id)
    if plan.confirmations or plan.remove_phone:
        await _reauthenticate(reauthenticate, current_password)
    sender = texts or text_sender_from_settings(settings)
    if plan.remove_phone:
        plan.immediate["phone"] = None
    if plan.immediate:
        # The operator's required fields were checked by _plan: this cannot refuse halfway.
        person = await update_person(session, ring, person_id, required=(), **plan.immediate)
        await record_event(
            session,
            actor=holder.audit_actor(),
            action="user.profile_update",
            account_id=holder.account_id,
            target_type="user",
            target_id=holder.user_id,
            details=_update_details(plan.immediate),
        )
    if plan.remove_phone:
        await _tell_changed(session, ring, settings, holder, person.email, "phone", None)
        if old_phone is not None:
            await text_old_phone(settings, sender, holder, old_phone, removed=True)
    for field, new_value in plan.confirmations:
        await _ask_confirmation(
            session, ring, settings, sender, holder, person, field=field, new_value=new_value
        )
    return MyProfile(person, await pending_changes(session, ring, person_id))


def _update_details(immediate: Mapping[str, object]) -> dict[str, str | int | bool | None]:
    """The audit details of an immediate change: the fields, and those removed by name (never
    a value)."""
    details: dict[str, str | int | bool | None] = {"fields": ",".join(sorted(immediate))}
    cleared = sorted(name for name, value in immediate.items() if value is None)
    if cleared:
        details["cleared"] = ",".join(cleared)
    return details


async def _ask_confirmation(
    session: AsyncSession,
    ring: MasterKeyring,
    settings: Settings,
    texts: TextMessageSender,
    holder: AccountHolder,
    person: PersonData,
    *,
    field: str,
    new_value: str,
) -> None:
    request = await request_contact_change(
        session, ring, person_id=person.id, field=field, new_value=new_value
    )
    await tell_change_requested(session, ring, settings, texts, holder, person, request)
    await record_event(
        session,
        actor=holder.audit_actor(),
        action="user.contact_change_request",
        account_id=holder.account_id,
        target_type="user",
        target_id=holder.user_id,
        details={"field": field, "change_id": request.id},
    )


async def _tell_changed(
    session: AsyncSession,
    ring: MasterKeyring,
    settings: Settings,
    holder: AccountHolder,
    to: str,
    field: str,
    new_value: str | None,
) -> None:
    await mail_contact_changed(
        session, ring, settings, holder, to=to, field=field, new_value=new_value
    )
    await record_event(
        session,
        actor=holder.audit_actor(),
        action="user.contact_change",
        account_id=holder.account_id,
        target_type="user",
        target_id=holder.user_id,
        details={"field": field, "removed": new_value is None},
    )


async def _confirmed(
    session: AsyncSession,
    ring: MasterKeyring,
    settings: Settings,
    texts: TextMessageSender,
    holder: AccountHolder,
    change: ConfirmedChange,
) -> MyProfile:
    person = change.person
    if change.field == "email":
        old_address = change.old_value or person.email
        new_value: str | None = person.email
    else:
        old_address, new_value = person.email, person.phone
        if change.old_value is not None and change.old_value != person.phone:
            await text_old_phone(settings, texts, holder, change.old_value, removed=False)
    await _tell_changed(session, ring, settings, holder, old_address, change.field, new_value)
    return MyProfile(person, await pending_changes(session, ring, person.id))


async def confirm_my_change(
    session: AsyncSession,
    ring: MasterKeyring,
    settings: Settings,
    *,
    holder: AccountHolder,
    code: str | None = None,
    token: str | None = None,
    texts: TextMessageSender | None = None,
) -> MyProfile:
    """Apply the holder's pending change, proven by its code or link token."""
    change = await confirm_contact_change(
        session,
        ring,
        person_id=_person_id(holder),
        code=code,
        token=token,
        required=settings.require_identity_fields,
    )
    sender = texts or text_sender_from_settings(settings)
    return await _confirmed(session, ring, settings, sender, holder, change)


async def holder_for_change_link(
    session: AsyncSession, token: str, holder_of: HolderOfPerson
) -> AccountHolder:
    """Whose change a confirmation link confirms (nothing is used up: showing the page is safe
    for mail scanners that follow links). ``holder_of`` answers None for a person whose user
    may not use links any more (gone, suspended, or their account suspended)."""
    person_id = await person_for_token(session, token)
    holder = await holder_of(person_id)
    if holder is None:
        raise InvalidInput(
            "This confirmation is not valid any more. Ask for the change again.",
            code="confirmation_invalid",
        )
    return holder


async def confirm_change_by_link(
    session: AsyncSession,
    ring: MasterKeyring,
    settings: Settings,
    *,
    token: str,
    holder_of: HolderOfPerson,
) -> AccountHolder:
    """Apply a pending change through the link sent to the new address (no sign-in needed:
    the link itself proves the new mailbox; the request was re-authenticated)."""
    holder = await holder_for_change_link(session, token, holder_of)
    await confirm_my_change(session, ring, settings, holder=holder, token=token)
    return holder
