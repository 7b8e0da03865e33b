"""A person changes their own data (policy §4 "user responsibility"; ASVS V7.5.1).

- Full name and postal address change at once.
- A new email address takes effect only once confirmed from that address (link or code, see
  `amanat.people.profile`); the old address is told that a change was asked for, and told
  again when it took effect.
- A new phone number likewise takes effect only once the person enters the code texted to it
  (`amanat.comms.sms`; no link: a text is read on the phone, the code is typed where the
  person is signed in). The old number, if any, and the email address are told that a change
  was asked for, and told again when it took effect; a removed number is told too.
- Changing or removing email or phone needs the current password first (re-authentication).
  Wrong passwords count against the user's sign-in throttle, as failed sign-ins do.
- The CNIC is identity-verification data: only an admin changes it, after checking it.

Everything is validated before anything is written, so a refusal leaves no half-done change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.audit.service import AuditActor, record_event
from amanat.comms.sms import TextMessageSender, text_sender_from_settings
from amanat.core.crypto import MasterKeyring
from amanat.core.errors import InvalidInput, NotFound
from amanat.core.settings import Settings
from amanat.identity.accounts import account_in_use
from amanat.identity.mail import send_identity_mail
from amanat.identity.models import User
from amanat.identity.reauthentication import check_current_password
from amanat.identity.text_messages import send_identity_text
from amanat.people.masking import mask_email, mask_phone
from amanat.people.profile import (
    CHANGE_VALID_FOR,
    ConfirmedChange,
    PendingChange,
    check_request_allowance,
    confirm_contact_change,
    pending_changes,
    person_for_token,
    request_contact_change,
)
from amanat.people.reveal import FIELD_LABELS
from amanat.people.service import PersonData, read_person, update_person
from amanat.people.validation import (
    PostalAddress,
    normalize_address,
    normalize_email,
    normalize_full_name,
    normalize_phone,
)

EDITABLE_FIELDS = frozenset({"full_name", "address", "email", "phone"})
_REQUIRED_LABELS = {"phone": "Phone number", "address": "Postal address"}


@dataclass(frozen=True, repr=False)
class MyProfile:
    """A person's own data in full, and the changes waiting for confirmation."""

    person: PersonData
    pending: list[PendingChange]

    def __repr__(self) -> str:
        return f"MyProfile(person_id={self.person.id!r})"


def _person_id(user: User) -> str:
    if user.person_id is None:
        raise NotFound("There is no personal data on this account.", code="person_not_found")
    return user.person_id


async def my_profile(session: AsyncSession, ring: MasterKeyring, user: User) -> MyProfile:
    """The user's own data, unmasked (a person always sees their own), and pending changes."""
    person_id = _person_id(user)
    person = await read_person(session, ring, person_id)
    return MyProfile(person, await pending_changes(session, ring, person_id))


async def _reauthenticate(
    session: AsyncSession,
    ring: MasterKeyring,
    settings: Settings,
    user: User,
    password: str | None,
) -> None:
    if not password:
        raise InvalidInput(
            "Enter your current password to change your email address or phone number.",
            code="current_password_required",
            field="current_password",
        )
    await check_current_password(session, ring, settings, user, password)


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


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
    if "full_name" in changes:
        name = normalize_full_name(_text("full_name", changes["full_name"]))
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
        if _blank(changes["email"]):
            raise InvalidInput("Email address is required.", code="invalid_email", field="email")
        email = normalize_email(_text("email", changes["email"]))
        if email != person.email:
            plan.new_email = email
    if "phone" in changes:
        raw_phone = changes["phone"]
        if _blank(raw_phone):
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
    user: User,
    changes: Mapping[str, object],
    current_password: str | None = None,
    texts: TextMessageSender | None = None,
) -> MyProfile:
    """Apply the user's own changes: name and address at once; a new email address or phone
    number once confirmed from it.

    Changing email or phone, or removing the phone number, needs ``current_password`` (V7.5.1).
    Text messages go to ``texts`` (default: the operator's settings).
    """
    person_id = _person_id(user)
    person = await read_person(session, ring, person_id)
    old_phone = person.phone
    plan = _plan(settings, person, changes)
    if plan.confirmations:
        await check_request_allowance(session, person_id)
    if plan.confirmations or plan.remove_phone:
        await _reauthenticate(session, ring, settings, user, current_password)
    sender = texts or text_sender_from_settings(settings)
    actor = AuditActor(user.id, user.role.value)
    if plan.remove_phone:
        plan.immediate["phone"] = None
    if plan.immediate:
        # The operator's required fields were checked by _plan: this cannot refuse halfway.
        person = await update_person(session, ring, person_id, required=(), **plan.immediate)
        await record_event(
            session,
            actor=actor,
            action="user.profile_update",
            account_id=user.account_id,
            target_type="user",
            target_id=user.id,
            details={"fields": ",".join(sorted(plan.immediate))},
        )
    if plan.remove_phone:
        await _tell_changed(session, ring, settings, user, person.email, "phone", None)
        if old_phone is not None:
            await _text_old_phone(settings, sender, user, old_phone, removed=True)
    for field, new_value in plan.confirmations:
        await _ask_confirmation(
            session, ring, settings, sender, user, person, field=field, new_value=new_value
        )
    return MyProfile(person, await pending_changes(session, ring, person_id))


async def _ask_confirmation(
    session: AsyncSession,
    ring: MasterKeyring,
    settings: Settings,
    texts: TextMessageSender,
    user: User,
    person: PersonData,
    *,
    field: str,
    new_value: str,
) -> None:
    """Send the code (and for email the link) to the new address only; tell the old ones."""
    request = await request_contact_change(
        session, ring, person_id=person.id, field=field, new_value=new_value
    )
    minutes = int(CHANGE_VALID_FOR.total_seconds() // 60)
    password_page = f"{settings.base_url}/account/password"
    if field == "email":
        await send_identity_mail(
            session,
            ring,
            template="contact_change_confirm",
            to=request.new_value,
            account_id=user.account_id,
            username=user.username,
            link=f"{settings.base_url}/confirm-contact/{request.token}",
            code=request.code,
            minutes=minutes,
        )
    else:
        await send_identity_text(
            texts,
            template="phone_change_confirm",
            to=request.new_value,
            username=user.username,
            code=request.code,
            minutes=minutes,
        )
        if person.phone is not None:
            await send_identity_text(
                texts,
                template="phone_change_notice",
                to=person.phone,
                username=user.username,
                password_page=password_page,
            )
    masked = mask_email(request.new_value) if field == "email" else mask_phone(request.new_value)
    await send_identity_mail(
        session,
        ring,
        template="contact_change_notice",
        to=person.email,
        account_id=user.account_id,
        username=user.username,
        field_label=FIELD_LABELS[field],
        new_value_masked=masked,
        minutes=minutes,
        password_page=password_page,
    )
    await record_event(
        session,
        actor=AuditActor(user.id, user.role.value),
        action="user.contact_change_request",
        account_id=user.account_id,
        target_type="user",
        target_id=user.id,
        details={"field": field, "change_id": request.id},
    )


async def _text_old_phone(
    settings: Settings, texts: TextMessageSender, user: User, phone: str, *, removed: bool
) -> None:
    await send_identity_text(
        texts,
        template="phone_removed" if removed else "phone_changed",
        to=phone,
        username=user.username,
        reset_page=f"{settings.base_url}/reset",
    )


async def _tell_changed(
    session: AsyncSession,
    ring: MasterKeyring,
    settings: Settings,
    user: User,
    to: str,
    field: str,
    new_value: str | None,
) -> None:
    masked = None
    if new_value is not None:
        masked = mask_email(new_value) if field == "email" else mask_phone(new_value)
    await send_identity_mail(
        session,
        ring,
        template="contact_changed",
        to=to,
        account_id=user.account_id,
        username=user.username,
        field=field,
        field_label=FIELD_LABELS[field],
        new_value_masked=masked,
        reset_page=f"{settings.base_url}/reset",
    )
    await record_event(
        session,
        actor=AuditActor(user.id, user.role.value),
        action="user.contact_change",
        account_id=user.account_id,
        target_type="user",
        target_id=user.id,
        details={"field": field, "removed": new_value is None},
    )


async def _confirmed(
    session: AsyncSession,
    ring: MasterKeyring,
    settings: Settings,
    texts: TextMessageSender,
    user: User,
    change: ConfirmedChange,
) -> MyProfile:
    person = change.person
    if change.field == "email":
        old_address = change.old_value or person.email
        new_value: str | None = person.email
    else:
        old_address, new_value = person.email, person.phone
        if change.old_value is not None and change.old_value != person.phone:
            await _text_old_phone(settings, texts, user, change.old_value, removed=False)
    await _tell_changed(session, ring, settings, user, old_address, change.field, new_value)
    return MyProfile(person, await pending_changes(session, ring, person.id))


async def confirm_my_change(
    session: AsyncSession,
    ring: MasterKeyring,
    settings: Settings,
    *,
    user: User,
    code: str | None = None,
    token: str | None = None,
    texts: TextMessageSender | None = None,
) -> MyProfile:
    """Apply the signed-in user's pending change, proven by its code or link token."""
    change = await confirm_contact_change(
        session,
        ring,
        person_id=_person_id(user),
        code=code,
        token=token,
        required=settings.require_identity_fields,
    )
    sender = texts or text_sender_from_settings(settings)
    return await _confirmed(session, ring, settings, sender, user, change)


async def user_for_change_link(session: AsyncSession, token: str) -> User:
    """Whose change a confirmation link confirms (nothing is used up: showing the page is safe
    for mail scanners that follow links)."""
    person_id = await person_for_token(session, token)
    user = await session.scalar(select(User).where(User.person_id == person_id))
    if (
        user is None
        or user.status not in ("active", "invited")
        or not await account_in_use(session, user.account_id)
    ):
        raise InvalidInput(
            "This confirmation is not valid any more. Ask for the change again.",
            code="confirmation_invalid",
        )
    return user


async def confirm_change_by_link(
    session: AsyncSession, ring: MasterKeyring, settings: Settings, *, token: str
) -> User:
    """Apply a pending change through the link sent to the new address (no sign-in needed:
    the link itself proves the new mailbox; the request was re-authenticated)."""
    user = await user_for_change_link(session, token)
    await confirm_my_change(session, ring, settings, user=user, token=token)
    return user
