"""The mails and text messages of a person's own contact change (policy §4; ASVS V6.4.1).

The code (and for email the link) goes to the new address only; the old addresses are told
that a change was asked for, and told again when it took effect. A removed number is told too.

Text messages are short on purpose: one segment where possible, no links but our own, no
personal data but the code a message exists to carry. Placeholders are filled from our own
values (username, code, minutes, page addresses), never from free text.

Categories keep their `identity.` prefix: that is the name the outbox, the sinks and operators'
filters have always known these messages by.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from amanat.comms.mail_templates import MailTemplates
from amanat.comms.sms import TextMessage, TextMessageSender
from amanat.core.crypto import MasterKeyring
from amanat.core.settings import Settings
from amanat.people.account_holder import AccountHolder
from amanat.people.masking import mask_email, mask_phone
from amanat.people.personal_data import PersonData
from amanat.people.profile import CHANGE_VALID_FOR, ContactChangeRequest
from amanat.people.reveal import FIELD_LABELS

_CATEGORY_PREFIX = "identity"

SUBJECTS = {
    "contact_change_confirm": "Amanat: confirm your new email address",
    "contact_change_notice": "Amanat: a change of your contact details was requested",
    "contact_changed": "Amanat: your contact details were changed",
}

TEXTS = {
    "phone_change_confirm": (
        "Amanat: {code} is your code to use this number for the account {username}. "
        "It works once, for {minutes} minutes. Not you? Ignore this message."
    ),
    "phone_change_notice": (
        "Amanat: someone signed in to the account {username} asked to change its phone "
        "number. Not you? Change your password at {password_page} now."
    ),
    "phone_changed": (
        "Amanat: the phone number of the account {username} was changed; this number gets "
        "no more messages about it. Not you? Reset your password at {reset_page}."
    ),
    "phone_removed": (
        "Amanat: this number was removed from the account {username} and gets no more "
        "messages about it. Not you? Reset your password at {reset_page}."
    ),
}

_mail = MailTemplates(
    Path(__file__).parent / "templates" / "email", SUBJECTS, category_prefix=_CATEGORY_PREFIX
)


async def _text(sender: TextMessageSender, *, template: str, to: str, **context: str | int) -> None:
    body = TEXTS[template].format(**context)
    await sender.send(TextMessage(to=to, body=body, category=f"{_CATEGORY_PREFIX}.{template}"))


def _masked(field: str, value: str) -> str:
    return mask_email(value) if field == "email" else mask_phone(value)


async def tell_change_requested(
    session: AsyncSession,
    ring: MasterKeyring,
    settings: Settings,
    texts: TextMessageSender,
    holder: AccountHolder,
    person: PersonData,
    request: ContactChangeRequest,
) -> None:
    """Send the code (and for email the link) to the new address only; tell the old ones."""
    minutes = int(CHANGE_VALID_FOR.total_seconds() // 60)
    password_page = f"{settings.base_url}/account/password"
    if request.field == "email":
        await _mail.send(
            session,
            ring,
            template="contact_change_confirm",
            to=request.new_value,
            account_id=holder.account_id,
            username=holder.username,
            link=f"{settings.base_url}/confirm-contact/{request.token}",
            code=request.code,
            minutes=minutes,
        )
    else:
        await _text(
            texts,
            template="phone_change_confirm",
            to=request.new_value,
            username=holder.username,
            code=request.code,
            minutes=minutes,
        )
        if person.phone is not None:
            await _text(
                texts,
                template="phone_change_notice",
                to=person.phone,
                username=holder.username,
                password_page=password_page,
            )
    await _mail.send(
        session,
        ring,
        template="contact_change_notice",
        to=person.email,
        account_id=holder.account_id,
        username=holder.username,
        field_label=FIELD_LABELS[request.field],
        new_value_masked=_masked(request.field, request.new_value),
        minutes=minutes,
        password_page=password_page,
    )


async def text_old_phone(
    settings: Settings,
    texts: TextMessageSender,
    holder: AccountHolder,
    phone: str,
    *,
    removed: bool,
) -> None:
    """Tell a number that it no longer belongs to the account (changed or removed)."""
    await _text(
        texts,
        template="phone_removed" if removed else "phone_changed",
        to=phone,
        username=holder.username,
        reset_page=f"{settings.base_url}/reset",
    )


async def mail_contact_changed(
    session: AsyncSession,
    ring: MasterKeyring,
    settings: Settings,
    holder: AccountHolder,
    *,
    to: str,
    field: str,
    new_value: str | None,
) -> None:
    """Tell `to` (the old email address, or the current one for a phone) that `field` changed;
    `new_value` None: it was removed."""
    await _mail.send(
        session,
        ring,
        template="contact_changed",
        to=to,
        account_id=holder.account_id,
        username=holder.username,
        field=field,
        field_label=FIELD_LABELS[field],
        new_value_masked=_masked(field, new_value) if new_value is not None else None,
        reset_page=f"{settings.base_url}/reset",
    )
