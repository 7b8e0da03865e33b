"""Mail the identity domain sends: rendered from files, queued in the outbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from amanat.comms.mail_templates import MailTemplates
from amanat.comms.outbox import EmailToQueue, queue_emails
from amanat.core.clock import UTC, utcnow
from amanat.core.crypto import MasterKeyring
from amanat.identity.models import User
from amanat.people.blind_index import held_fields
from amanat.people.personal_data import read_person

SUBJECTS = {
    "invite": "Your Amanat account is ready: set your password",
    "first_admin": "Amanat: set the platform administrator's password",
    "locked": "Amanat: sign-in to your account is paused",
    "password_reset": "Amanat: reset your password",
    "password_changed": "Amanat: your password was changed",
    "verify_email": "Amanat: confirm your email address",
    "signup_attempt": "Amanat: someone tried to sign up with your email address",
    "signup_attempt_cnic": "Amanat: someone tried to sign up with your CNIC",
    "claim_attempt": "Amanat: another organisation entered your email address",
    "claim_attempt_cnic": "Amanat: another organisation entered your CNIC",
    "personal_data_corrected": "Amanat: an administrator corrected your personal data",
    "user_suspended": "Amanat: your account was suspended",
    "password_must_change": "Amanat: choose a new password at your next sign-in",
    "mfa_reset": "Amanat: your second factor was reset",
    "authenticator_replaced": "Amanat: your authenticator app was replaced",
    "recovery_codes_new": "Amanat: new recovery codes were made",
    "account_suspended": "Amanat: your organisation's account was suspended",
}

_mail = MailTemplates(
    Path(__file__).parent / "templates" / "email", SUBJECTS, category_prefix="identity"
)


def identity_email(
    template: str, *, to: str, account_id: str | None, **context: Any
) -> EmailToQueue:
    """The mail `template` renders for `to`, ready for the outbox."""
    return _mail.email(template, to=to, account_id=account_id, **context)


async def send_identity_mail(
    session: AsyncSession,
    ring: MasterKeyring,
    *,
    template: str,
    to: str,
    account_id: str | None,
    **context: Any,
) -> str:
    """Render `template` for `to` and queue it; the outbox message's id."""
    return await _mail.send(
        session, ring, template=template, to=to, account_id=account_id, **context
    )


async def tell_users(
    session: AsyncSession, ring: MasterKeyring, users: list[User], *, template: str
) -> int:
    """Mail each of `users` that something was done to their account just now: `template`
    gets their username and the time (UTC). A user whose personal data is gone (removed) gets
    nothing. How many mails were queued."""
    time = utcnow().astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    mails = [
        _mail.email(
            template,
            to=(await read_person(session, ring, user.person_id)).email,
            account_id=user.account_id,
            username=user.username,
            time=time,
        )
        for user in users
        # A held email address (`identity.claims`) is another person's mailbox.
        if user.person_id is not None and "email" not in await held_fields(session, user.person_id)
    ]
    if mails:
        await queue_emails(session, ring, mails)
    return len(mails)
