"""What an admin does to a person's access is mailed to the person: a suspension, a forced
password change, a reset of the second factor, and the suspension of their whole customer
account (every active user of it). Each mail says what happened and when, and what to do if it
was not expected; no subject names the person."""

from __future__ import annotations

import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import httpx
import pytest

from amanat.access.roles import Role
from amanat.comms.delivery import deliver_due
from amanat.comms.transports import transport_from_settings
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.settings import Settings
from tests.support.identity import Person, make_user, sign_in

pytestmark = [pytest.mark.policy('§4 "Admin create users and supervise them"')]

WHEN = re.compile(r"on\s+\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC")


async def _mails_to(
    database: Database, ring: MasterKeyring, settings: Settings, person: Person
) -> list[EmailMessage]:
    """Deliver the outbox into the mail sink (.eml files in the data directory); `person`'s."""
    await deliver_due(database, ring, transport_from_settings(settings))
    directory = settings.data_dir / "mail"
    found: list[EmailMessage] = []
    for path in sorted(directory.glob("*.eml")) if directory.is_dir() else []:
        message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        assert isinstance(message, EmailMessage)
        if message["To"] == person.email:
            found.append(message)
    return found


def _text(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def _the_one(mails: list[EmailMessage], subject: str) -> str:
    (mail,) = [m for m in mails if m["Subject"] == subject]
    return _text(mail)


@pytest.mark.parametrize(
    ("action", "subject", "advice"),
    [
        ("suspend", "Amanat: your account was suspended", "contact your administrator"),
        (
            "force-password-change",
            "Amanat: choose a new password at your next sign-in",
            "contact your administrator",
        ),
        ("reset-mfa", "Amanat: your second factor was reset", "Forgot your password?"),
    ],
)
async def test_an_admins_action_on_a_user_is_mailed_to_them(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    admin_a: Person,
    member_a: Person,
    action: str,
    subject: str,
    advice: str,
) -> None:
    await sign_in(client, admin_a, database)
    response = await client.post(f"/api/v1/users/{member_a.user_id}/{action}")
    assert response.status_code == 200, response.text
    mails = await _mails_to(database, test_keyring, settings, member_a)
    body = _the_one(mails, subject)
    assert member_a.username in body
    assert WHEN.search(body)
    assert "session" in body
    assert advice in body
    assert member_a.username not in subject
    assert member_a.email not in subject
    # The admin hears nothing of it; that is the audit log's business.
    told = await _mails_to(database, test_keyring, settings, admin_a)
    assert [m for m in told if m["Subject"] == subject] == []


async def test_the_user_page_buttons_mail_too(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    admin_a: Person,
    member_a: Person,
) -> None:
    csrf = await sign_in(client, admin_a, database)
    for action in ("force-password-change", "reset-mfa", "suspend"):
        done = await client.post(
            f"/admin/users/{member_a.user_id}/{action}",
            data={"csrf_token": csrf, "confirmed": "yes"},  # from the confirmation page
            headers={"x-csrf-token": ""},
        )
        assert done.status_code == 303
    subjects = {m["Subject"] for m in await _mails_to(database, test_keyring, settings, member_a)}
    assert subjects >= {
        "Amanat: your account was suspended",
        "Amanat: choose a new password at your next sign-in",
        "Amanat: your second factor was reset",
    }


async def test_suspending_a_customer_account_mails_every_active_user_of_it(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    account_a: str,
    admin_a: Person,
    member_a: Person,
    member_b: Person,
) -> None:
    root = await make_user(
        database,
        test_keyring,
        settings,
        account_id=None,
        username="root",
        role=Role.PLATFORM_ADMIN,
    )
    invited = await make_user(
        database, test_keyring, settings, account_id=account_a, username="not-yet", activate=False
    )
    await sign_in(client, root, database)
    response = await client.post(
        f"/api/v1/accounts/{account_a}/suspend", json={"reason": "non_payment"}
    )
    assert response.status_code == 200, response.text
    subject = "Amanat: your organisation's account was suspended"
    for person in (admin_a, member_a):
        body = _the_one(await _mails_to(database, test_keyring, settings, person), subject)
        assert person.username in body
        assert WHEN.search(body)
        assert "non_payment" not in body  # why stays in the audit record
        assert "If you did not, contact" in body
    for bystander in (invited, member_b, root):
        told = await _mails_to(database, test_keyring, settings, bystander)
        assert [m for m in told if m["Subject"] == subject] == []
