"""Mail the identity domain sends: rendered from files, queued in the outbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.comms.outbox import EmailToQueue, queue_emails
from amanat.core.crypto import MasterKeyring

_templates = Environment(
    loader=FileSystemLoader(str(Path(__file__).parent / "templates" / "email")),
    autoescape=False,  # noqa: S701  (plain-text mail; nothing here is rendered as HTML)
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)

SUBJECTS = {
    "invite": "Your Amanat account is ready: set your password",
    "first_admin": "Amanat: set the platform administrator's password",
    "locked": "Amanat: sign-in to your account is paused",
    "password_reset": "Amanat: reset your password",
    "password_changed": "Amanat: your password was changed",
    "verify_email": "Amanat: confirm your email address",
    "signup_attempt": "Amanat: someone tried to sign up with your email address",
    "signup_attempt_cnic": "Amanat: someone tried to sign up with your CNIC",
    "contact_change_confirm": "Amanat: confirm your new email address",
    "contact_change_notice": "Amanat: a change of your contact details was requested",
    "contact_changed": "Amanat: your contact details were changed",
    "personal_data_corrected": "Amanat: an administrator corrected your personal data",
}


def identity_email(
    template: str, *, to: str, account_id: str | None, **context: Any
) -> EmailToQueue:
    """The mail `template` renders for `to`, ready for the outbox."""
    body = _templates.get_template(f"{template}.txt").render(**context)
    return EmailToQueue(
        to=to,
        subject=SUBJECTS[template],
        body=body,
        category=f"identity.{template}",
        account_id=account_id,
    )


async def send_identity_mail(
    session: AsyncSession,
    ring: MasterKeyring,
    *,
    template: str,
    to: str,
    account_id: str | None,
    **context: Any,
) -> str:
    email = identity_email(template, to=to, account_id=account_id, **context)
    [message_id] = await queue_emails(session, ring, [email])
    return message_id
