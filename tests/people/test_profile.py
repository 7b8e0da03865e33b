"""Profile self-service: name and address change at once; a new email address needs the current
password, is confirmed from the new address by a single-use 30-minute link or code, and the old
address is told; a phone number can be removed with the password (a new one is confirmed by a
texted code: see test_phone_change)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from amanat.audit.models import AuditRecord
from amanat.comms.models import OutboxMessage
from amanat.comms.outbox import EmailMessageData, decrypt_message
from amanat.core.clock import utcnow
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.settings import Settings
from amanat.people.models import PendingContactChange
from amanat.people.personal_data import read_person
from amanat.people.profile import CHANGE_REQUESTS_PER_HOUR, MAX_CODE_ATTEMPTS
from amanat.people.registry import update_person
from tests.support.identity import STRONG_PASSWORD, Person, load_user, sign_in

pytestmark = [
    pytest.mark.policy("§4 user responsibility"),
    pytest.mark.policy("§2 why we collect"),
]

NEW_EMAIL = "bilal.new@example.org"
ADDRESS = {"line1": "House 9", "city": "Karachi", "province": "Sindh", "postal_code": "75500"}


async def _mails(database: Database, ring: MasterKeyring, category: str) -> list[EmailMessageData]:
    async with database.sessionmaker() as session:
        rows = await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.category == category)
            .order_by(OutboxMessage.created_at)
        )
        return [decrypt_message(ring, row) for row in rows]


def _secrets(message: EmailMessageData) -> tuple[str, str]:
    """The link token and the code of a confirmation mail."""
    token = re.search(r"/confirm-contact/([A-Za-z0-9_-]+)", message.body)
    code = re.search(r"code on your profile page: ([0-9]{6})", message.body)
    assert token is not None
    assert code is not None
    return token.group(1), code.group(1)


async def _ask_for(
    client: httpx.AsyncClient, email: str = NEW_EMAIL, password: str | None = STRONG_PASSWORD
) -> httpx.Response:
    body: dict[str, Any] = {"email": email}
    if password is not None:
        body["current_password"] = password
    return await client.put("/api/v1/me/profile", json=body)


async def _email_of(database: Database, ring: MasterKeyring, person: Person) -> str:
    user = await load_user(database, person.user_id)
    assert user.person_id is not None
    async with database.sessionmaker() as session:
        return (await read_person(session, ring, user.person_id)).email


async def test_name_and_address_change_at_once(
    client: httpx.AsyncClient, database: Database, member_a: Person
) -> None:
    await sign_in(client, member_a, database)
    changed = await client.put(
        "/api/v1/me/profile", json={"full_name": "Bilal  Ahmed", "address": ADDRESS}
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["full_name"] == "Bilal Ahmed"
    assert body["address"]["city"] == "Karachi"
    assert body["pending"] == []
    shown = (await client.get("/api/v1/me/profile")).json()
    assert (shown["full_name"], shown["address"]["postal_code"]) == ("Bilal Ahmed", "75500")
    async with database.sessionmaker() as session:
        record = await session.scalar(
            select(AuditRecord).where(AuditRecord.action == "user.profile_update")
        )
    assert record is not None
    assert "Ahmed" not in record.details
    removed = await client.put("/api/v1/me/profile", json={"address": None})
    assert removed.json()["address"] is None


@pytest.mark.asvs("V2.2.1", "V15.3.3")
@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"cnic": "35202-1234567-1"}, "invalid_input"),
        ({"full_name": ""}, "empty_value"),
        ({"full_name": None}, "invalid_full_name"),
        ({"address": {**ADDRESS, "postal_code": "12"}}, "invalid_postal_code"),
        ({"email": "not an address", "current_password": STRONG_PASSWORD}, "invalid_email"),
    ],
)
async def test_invalid_or_unknown_fields_are_refused(
    client: httpx.AsyncClient,
    database: Database,
    member_a: Person,
    body: dict[str, Any],
    code: str,
) -> None:
    await sign_in(client, member_a, database)
    refused = await client.put("/api/v1/me/profile", json=body)
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == code
    assert "35202" not in refused.text


@pytest.mark.asvs("V7.5.1")
async def test_an_email_change_needs_the_current_password(
    client: httpx.AsyncClient, database: Database, test_keyring: MasterKeyring, member_a: Person
) -> None:
    await sign_in(client, member_a, database)
    missing = await _ask_for(client, password=None)
    assert missing.status_code == 422
    assert missing.json()["code"] == "current_password_required"
    wrong = await _ask_for(client, password="not the password at all")
    assert wrong.status_code == 422
    assert wrong.json()["code"] == "current_password_wrong"
    assert await _mails(database, test_keyring, "identity.contact_change_confirm") == []
    assert (await client.get("/api/v1/me/profile")).json()["pending"] == []


@pytest.mark.asvs("V7.5.1", "V2.3.1")
async def test_a_new_email_takes_effect_only_when_confirmed_from_it(
    client: httpx.AsyncClient, database: Database, test_keyring: MasterKeyring, member_a: Person
) -> None:
    await sign_in(client, member_a, database)
    asked = await _ask_for(client)
    assert asked.status_code == 200, asked.text
    body = asked.json()
    assert body["email"] == member_a.email  # unchanged until confirmed
    assert [(p["field"], p["new_value"]) for p in body["pending"]] == [("email", NEW_EMAIL)]

    (confirm,) = await _mails(database, test_keyring, "identity.contact_change_confirm")
    assert confirm.to == NEW_EMAIL
    token, code = _secrets(confirm)
    assert NEW_EMAIL not in confirm.body.split("/confirm-contact/", 1)[1].split()[0]
    (notice,) = await _mails(database, test_keyring, "identity.contact_change_notice")
    assert notice.to == member_a.email
    assert token not in notice.body
    assert code not in notice.body
    assert "b***@example.org" in notice.body
    assert await _email_of(database, test_keyring, member_a) == member_a.email

    confirmed = await client.post("/api/v1/me/profile/confirm", json={"token": token})
    assert confirmed.status_code == 200, confirmed.text
    assert (confirmed.json()["email"], confirmed.json()["pending"]) == (NEW_EMAIL, [])
    assert await _email_of(database, test_keyring, member_a) == NEW_EMAIL
    (changed,) = await _mails(database, test_keyring, "identity.contact_changed")
    assert changed.to == member_a.email
    assert "was just changed" in changed.body

    again = await client.post("/api/v1/me/profile/confirm", json={"token": token})
    assert again.status_code == 422
    assert again.json()["code"] == "confirmation_invalid"
    by_new_email = await client.post(
        "/api/v1/session", json={"login": NEW_EMAIL, "password": STRONG_PASSWORD}
    )
    assert by_new_email.status_code == 200


@pytest.mark.asvs("V2.4.1")
async def test_the_code_works_and_wrong_codes_are_limited(
    client: httpx.AsyncClient, database: Database, test_keyring: MasterKeyring, member_a: Person
) -> None:
    await sign_in(client, member_a, database)
    assert (await _ask_for(client)).status_code == 200
    _token, code = _secrets(
        (await _mails(database, test_keyring, "identity.contact_change_confirm"))[-1]
    )
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(MAX_CODE_ATTEMPTS - 1):
        refused = await client.post("/api/v1/me/profile/confirm", json={"code": wrong})
        assert refused.status_code == 422
        assert refused.json()["code"] == "confirmation_invalid"
    right = await client.post("/api/v1/me/profile/confirm", json={"code": code})
    assert right.status_code == 200, right.text
    assert right.json()["email"] == NEW_EMAIL

    assert (await _ask_for(client, "third@example.org")).status_code == 200
    _token, code = _secrets(
        (await _mails(database, test_keyring, "identity.contact_change_confirm"))[-1]
    )
    for _ in range(MAX_CODE_ATTEMPTS):
        await client.post("/api/v1/me/profile/confirm", json={"code": wrong})
    spent = await client.post("/api/v1/me/profile/confirm", json={"code": code})
    assert spent.status_code == 422  # out of attempts: the right code no longer works
    assert (await client.get("/api/v1/me/profile")).json()["email"] == NEW_EMAIL


async def test_an_expired_or_replaced_link_is_refused(
    client: httpx.AsyncClient, database: Database, test_keyring: MasterKeyring, member_a: Person
) -> None:
    await sign_in(client, member_a, database)
    assert (await _ask_for(client)).status_code == 200
    first, _code = _secrets(
        (await _mails(database, test_keyring, "identity.contact_change_confirm"))[-1]
    )
    async with database.sessionmaker() as session:
        row = await session.scalar(select(PendingContactChange))
        assert row is not None
        assert row.expires_at - row.created_at == timedelta(minutes=30)
        row.expires_at = utcnow() - timedelta(seconds=1)
        await session.commit()
    late = await client.post("/api/v1/me/profile/confirm", json={"token": first})
    assert late.status_code == 422
    assert late.json()["code"] == "confirmation_invalid"
    assert (await client.get(f"/confirm-contact/{first}")).status_code == 422

    assert (await _ask_for(client, "one@example.org")).status_code == 200
    older, _ = _secrets(
        (await _mails(database, test_keyring, "identity.contact_change_confirm"))[-1]
    )
    assert (await _ask_for(client, "two@example.org")).status_code == 200
    replaced = await client.post("/api/v1/me/profile/confirm", json={"token": older})
    assert replaced.status_code == 422
    assert await _email_of(database, test_keyring, member_a) == member_a.email


async def test_a_taken_email_is_refused_at_confirmation(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    member_a: Person,
    admin_a: Person,
) -> None:
    await sign_in(client, member_a, database)
    # Asking tells nothing about who holds the address (no enumeration) ...
    assert (await _ask_for(client, admin_a.email.upper())).status_code == 200
    token, _code = _secrets(
        (await _mails(database, test_keyring, "identity.contact_change_confirm"))[-1]
    )
    # ... confirming from it does, to whoever reads that mailbox.
    taken = await client.post("/api/v1/me/profile/confirm", json={"token": token})
    assert taken.status_code == 409
    assert taken.json()["code"] == "email_taken"
    assert await _email_of(database, test_keyring, member_a) == member_a.email
    assert await _mails(database, test_keyring, "identity.contact_changed") == []


async def test_another_persons_token_confirms_nothing_for_me(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    member_a: Person,
    member_b: Person,
) -> None:
    await sign_in(client, member_a, database)
    assert (await _ask_for(client)).status_code == 200
    token, code = _secrets(
        (await _mails(database, test_keyring, "identity.contact_change_confirm"))[-1]
    )
    await sign_in(second_client, member_b, database)
    for body in ({"token": token}, {"code": code}):
        refused = await second_client.post("/api/v1/me/profile/confirm", json=body)
        assert refused.status_code == 422
    assert await _email_of(database, test_keyring, member_b) == member_b.email
    assert await _email_of(database, test_keyring, member_a) == member_a.email


async def test_the_link_page_confirms_without_javascript(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    member_a: Person,
) -> None:
    await sign_in(client, member_a, database)
    assert (await _ask_for(client)).status_code == 200
    token, _code = _secrets(
        (await _mails(database, test_keyring, "identity.contact_change_confirm"))[-1]
    )
    # Opened in another browser (the new mailbox's device), without signing in.
    page = await second_client.get(f"/confirm-contact/{token}")
    assert page.status_code == 200
    assert member_a.username in page.text
    assert (
        await _email_of(database, test_keyring, member_a) == member_a.email
    )  # a GET changes nothing
    csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    forged = await second_client.post(f"/confirm-contact/{token}", data={"csrf_token": "x"})
    assert forged.status_code == 403
    done = await second_client.post(f"/confirm-contact/{token}", data={"csrf_token": csrf})
    assert done.status_code == 303  # POST/redirect/GET: a reload repeats nothing
    assert done.headers["location"] == "/signin"
    told = await second_client.get("/signin")
    assert "Your new email address is confirmed" in told.text
    assert await _email_of(database, test_keyring, member_a) == NEW_EMAIL


@pytest.mark.asvs("V7.5.1")
async def test_a_phone_number_is_removed_with_the_password(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    member_a: Person,
) -> None:
    user = await load_user(database, member_a.user_id)
    assert user.person_id is not None
    async with database.sessionmaker() as session:
        await update_person(session, test_keyring, user.person_id, phone="0300-1112223")
        await session.commit()
    await sign_in(client, member_a, database)
    unproven = await client.put("/api/v1/me/profile", json={"phone": None})
    assert unproven.json()["code"] == "current_password_required"
    removed = await client.put(
        "/api/v1/me/profile", json={"phone": None, "current_password": STRONG_PASSWORD}
    )
    assert removed.status_code == 200, removed.text
    assert removed.json()["phone"] is None
    (told,) = await _mails(database, test_keyring, "identity.contact_changed")
    assert told.to == member_a.email
    assert "phone number" in told.body
    (texted,) = (settings.data_dir / "sms").glob("*.txt")
    assert "To: +923001112223\n" in texted.read_text()
    assert "was removed" in texted.read_text()


@pytest.mark.asvs("V2.4.1")
async def test_change_requests_are_capped_per_person(
    client: httpx.AsyncClient, database: Database, member_a: Person
) -> None:
    await sign_in(client, member_a, database)
    for n in range(CHANGE_REQUESTS_PER_HOUR):
        assert (await _ask_for(client, f"n{n}@example.org")).status_code == 200
    capped = await _ask_for(client, "one-more@example.org")
    assert capped.status_code == 429
    assert capped.json()["code"] == "contact_change_throttled"
    assert capped.headers["retry-after"] == "3600"
    assert capped.json()["detail"] == "Too many change requests. Try again in 1 hour."


@pytest.mark.asvs("V14.2.1")
async def test_personal_data_never_travels_in_a_url(
    client: httpx.AsyncClient, database: Database, test_keyring: MasterKeyring, member_a: Person
) -> None:
    await sign_in(client, member_a, database)
    in_query = await client.put(
        "/api/v1/me/profile", params={"email": NEW_EMAIL}, json={"full_name": "Bilal Member"}
    )
    assert in_query.status_code == 200
    assert in_query.json()["pending"] == []  # a value in the query string is never read
    assert (await _ask_for(client)).status_code == 200
    (confirm,) = await _mails(database, test_keyring, "identity.contact_change_confirm")
    links = re.findall(r"https?://\S+", confirm.body)
    assert links
    for link in links:
        assert "@" not in link
        assert "bilal" not in link.lower()


async def test_the_profile_pages_work_without_javascript(
    client: httpx.AsyncClient, database: Database, test_keyring: MasterKeyring, member_a: Person
) -> None:
    csrf = await sign_in(client, member_a, database)
    page = await client.get("/account/profile")
    assert page.status_code == 200
    assert member_a.email in page.text
    assert 'href="/account/privacy"' in page.text
    saved = await client.post(
        "/account/profile",
        data={"full_name": "Bilal Qureshi", "line1": "", "city": "", "csrf_token": csrf},
    )
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == "/account/profile"
    after = await client.get("/account/profile")
    assert "Bilal Qureshi" in after.text
    assert "Your name and address are saved." in after.text
    assert "are saved." not in (await client.get("/account/profile")).text  # said once
    no_password = await client.post(
        "/account/profile/contact", data={"email": NEW_EMAIL, "csrf_token": csrf}
    )
    assert no_password.status_code == 422
    assert "current password" in no_password.text
    asked = await client.post(
        "/account/profile/contact",
        data={"email": NEW_EMAIL, "current_password": STRONG_PASSWORD, "csrf_token": csrf},
    )
    assert asked.status_code == 303
    assert "Waiting for confirmation" in (await client.get(asked.headers["location"])).text
    _token, code = _secrets(
        (await _mails(database, test_keyring, "identity.contact_change_confirm"))[-1]
    )
    confirmed = await client.post(
        "/account/profile/confirm", data={"code": code, "csrf_token": csrf}
    )
    assert confirmed.status_code == 303
    assert "Your new contact details are saved" in (await client.get("/account/profile")).text
    assert await _email_of(database, test_keyring, member_a) == NEW_EMAIL
