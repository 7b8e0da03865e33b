"""Sign-up: a person opens a customer account and owns it once the email is confirmed; an
address already in use learns nothing new; sign-ups are counted per address; the operator can
switch sign-up off."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from amanat.access.actors import OPERATOR
from amanat.access.roles import Role
from amanat.audit.reading import list_records
from amanat.comms.models import OutboxMessage
from amanat.comms.outbox import EmailMessageData, decrypt_message
from amanat.core.clock import utcnow
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.settings import Settings
from amanat.identity.invitations import invite_user
from amanat.identity.models import CustomerAccount, OneTimeToken, User
from amanat.identity.signup import SIGNUPS_PER_ADDRESS, WARNINGS_PER_EMAIL
from amanat.web.app import create_app
from tests.support.forms import error_beside, is_required
from tests.support.identity import (
    ADDRESS,
    CNIC,
    CNIC_DIGITS,
    PHONE,
    PHONE_E164,
    STRONG_PASSWORD,
    VERIFYING_IDENTITY,
    Person,
    person_of,
)
from tests.support.leak_guard import LeakGuard

pytestmark = pytest.mark.policy("§3 account creation")

NEW_OWNER = {
    "account_name": "Nimbus Freight",
    "username": "nimbus-owner",
    "full_name": "Zara Founder",
    "email": "zara@nimbus.example",
    "password": STRONG_PASSWORD,
}


def _without_request_id(response: httpx.Response) -> dict[str, object]:
    body = dict(response.json())
    body.pop("request_id", None)
    return body


async def _signup(client: httpx.AsyncClient, **overrides: object) -> httpx.Response:
    return await client.post("/api/v1/signup", json={**NEW_OWNER, **overrides})


async def _mails(database: Database, ring: MasterKeyring, category: str) -> list[EmailMessageData]:
    async with database.sessionmaker() as session:
        rows = await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.category == category)
            .order_by(OutboxMessage.created_at)
        )
        return [decrypt_message(ring, row) for row in rows]


async def _verification_token(database: Database, ring: MasterKeyring) -> str:
    message = (await _mails(database, ring, "identity.verify_email"))[-1]
    assert message.to == NEW_OWNER["email"]
    link = next(line for line in message.body.splitlines() if "/verify/" in line)
    return link.strip().split("/verify/", 1)[1]


async def _owner(database: Database) -> tuple[User, CustomerAccount]:
    async with database.sessionmaker() as session:
        user = await session.scalar(select(User).where(User.username == NEW_OWNER["username"]))
        assert user is not None
        account = await session.get(CustomerAccount, user.account_id)
        assert account is not None
        return user, account


async def _accounts_named(database: Database, name: str) -> int:
    async with database.sessionmaker() as session:
        count = await session.scalar(
            select(func.count(CustomerAccount.id)).where(CustomerAccount.name == name)
        )
        return int(count or 0)


async def test_sign_up_creates_a_pending_account_with_its_owner(
    client: httpx.AsyncClient, database: Database, test_keyring: MasterKeyring
) -> None:
    response = await _signup(client)
    assert response.status_code == 202, response.text
    assert NEW_OWNER["email"] not in response.text
    user, account = await _owner(database)
    assert account.kind == "customer"
    assert account.status == "pending_verification"
    assert account.name == NEW_OWNER["account_name"]
    assert user.role == Role.OWNER
    assert user.status == "invited"
    assert user.password_hash is not None
    assert STRONG_PASSWORD not in (user.password_hash or "")
    mail = (await _mails(database, test_keyring, "identity.verify_email"))[0]
    assert "24" in mail.body
    async with database.sessionmaker() as session:
        actions = [r.action for r in await list_records(session, account_id=account.id)]
    assert "account.signup" in actions


@pytest.mark.asvs("V6.3.8")
async def test_the_owner_cannot_sign_in_before_confirming(
    client: httpx.AsyncClient, database: Database
) -> None:
    assert (await _signup(client)).status_code == 202
    pending = await client.post(
        "/api/v1/session",
        json={"login": NEW_OWNER["username"], "password": NEW_OWNER["password"]},
    )
    unknown = await client.post(
        "/api/v1/session", json={"login": "nobody-here", "password": NEW_OWNER["password"]}
    )
    assert pending.status_code == unknown.status_code == 401
    assert pending.json()["code"] == "signin_failed"
    assert _without_request_id(pending) == _without_request_id(unknown)


@pytest.mark.asvs("V6.4.1")
async def test_confirming_activates_the_account_and_the_link_works_once(
    client: httpx.AsyncClient, database: Database, test_keyring: MasterKeyring
) -> None:
    assert (await _signup(client)).status_code == 202
    token = await _verification_token(database, test_keyring)
    assert len(token) >= 43
    confirmed = await client.post("/api/v1/signup/verify", json={"token": token})
    assert confirmed.status_code == 200, confirmed.text
    user, account = await _owner(database)
    assert (user.status, account.status) == ("active", "active")
    again = await client.post("/api/v1/signup/verify", json={"token": token})
    assert again.status_code == 422
    assert again.json()["code"] == "link_invalid"
    signed = await client.post(
        "/api/v1/session",
        json={"login": NEW_OWNER["email"], "password": NEW_OWNER["password"]},
    )
    assert signed.status_code == 200
    assert signed.json()["needs_mfa_enrolment"] is True  # owners always need a second factor
    async with database.sessionmaker() as session:
        actions = [r.action for r in await list_records(session, account_id=account.id)]
    assert "account.verified" in actions


@pytest.mark.asvs("V6.4.1")
async def test_the_confirmation_link_expires_after_a_day(
    client: httpx.AsyncClient, database: Database, test_keyring: MasterKeyring
) -> None:
    assert (await _signup(client)).status_code == 202
    token = await _verification_token(database, test_keyring)
    async with database.sessionmaker() as session:
        row = await session.scalar(
            select(OneTimeToken).where(OneTimeToken.purpose == "email_verification")
        )
        assert row is not None
        assert row.expires_at - row.created_at == timedelta(hours=24)
        row.expires_at = utcnow() - timedelta(seconds=1)
        await session.commit()
    late = await client.post("/api/v1/signup/verify", json={"token": token})
    assert late.status_code == 422
    user, account = await _owner(database)
    assert (user.status, account.status) == ("invited", "pending_verification")


@pytest.mark.asvs("V6.3.8")
async def test_an_email_in_use_gets_the_same_answer_and_its_owner_a_warning(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    member_a: Person,
) -> None:
    fresh = await _signup(client)
    taken = await _signup(
        client,
        account_name="Copycat Ltd",
        username="copycat-owner",
        email=member_a.email.upper(),
    )
    assert fresh.status_code == taken.status_code == 202
    assert _without_request_id(fresh) == _without_request_id(taken)
    assert await _accounts_named(database, "Copycat Ltd") == 0
    async with database.sessionmaker() as session:
        assert await session.scalar(select(User).where(User.username == "copycat-owner")) is None
    warnings = await _mails(database, test_keyring, "identity.signup_attempt")
    assert [mail.to for mail in warnings] == [member_a.email]
    assert "/reset" in warnings[0].body
    verifications = await _mails(database, test_keyring, "identity.verify_email")
    assert [mail.to for mail in verifications] == [NEW_OWNER["email"]]


@pytest.mark.asvs("V2.4.1")
async def test_warnings_to_one_address_are_capped(
    new_client: Callable[..., httpx.AsyncClient],
    database: Database,
    test_keyring: MasterKeyring,
    member_a: Person,
) -> None:
    for number in range(WARNINGS_PER_EMAIL + 2):
        async with new_client(f"198.51.100.{number + 1}") as http:
            answer = await _signup(http, username=f"copycat-{number}", email=member_a.email)
            assert answer.status_code == 202
    warnings = await _mails(database, test_keyring, "identity.signup_attempt")
    assert len(warnings) == WARNINGS_PER_EMAIL


async def test_a_taken_username_is_refused_openly_without_revealing_emails(
    client: httpx.AsyncClient, database: Database, test_keyring: MasterKeyring, member_a: Person
) -> None:
    # Usernames are login ids, not personal data: a person must be able to pick a free one.
    refused = await _signup(client, username=member_a.username)
    assert refused.status_code == 409
    assert refused.json()["code"] == "username_taken"
    assert member_a.email not in refused.text
    assert await _accounts_named(database, NEW_OWNER["account_name"]) == 0
    assert await _mails(database, test_keyring, "identity.verify_email") == []


@pytest.mark.asvs("V6.2.4", "V6.3.8")
async def test_a_weak_password_is_refused_alike_for_new_and_used_emails(
    client: httpx.AsyncClient, database: Database, member_a: Person
) -> None:
    fresh = await _signup(client, password="qwertyuiop")
    taken = await _signup(client, password="qwertyuiop", email=member_a.email)
    assert fresh.status_code == taken.status_code == 422
    assert fresh.json()["code"] == "password_rejected"
    assert _without_request_id(fresh) == _without_request_id(taken)
    assert await _accounts_named(database, NEW_OWNER["account_name"]) == 0


@pytest.mark.asvs("V2.4.1")
async def test_sign_ups_from_one_address_are_throttled(
    client: httpx.AsyncClient, new_client: Callable[..., httpx.AsyncClient]
) -> None:
    for number in range(SIGNUPS_PER_ADDRESS):
        answer = await _signup(
            client, username=f"owner-{number}", email=f"owner{number}@nimbus.example"
        )
        assert answer.status_code == 202, answer.text
    refused = await _signup(client, username="owner-late", email="late@nimbus.example")
    assert refused.status_code == 429
    assert refused.json()["code"] == "signup_throttled"
    assert refused.json()["retry_after"] > 0
    assert refused.headers["retry-after"] == str(refused.json()["retry_after"])
    assert "Try again in " in refused.json()["detail"]
    async with new_client("203.0.113.9") as elsewhere:
        answer = await _signup(elsewhere, username="owner-late", email="late@nimbus.example")
        assert answer.status_code == 202


async def test_signup_and_confirmation_pages_work_and_get_changes_nothing(
    client: httpx.AsyncClient, database: Database, test_keyring: MasterKeyring
) -> None:
    signin_page = await client.get("/signin")
    assert 'href="/signup"' in signin_page.text
    form = await client.get("/signup")
    assert form.status_code == 200
    csrf = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    forged = await client.post("/signup", data={**NEW_OWNER, "csrf_token": "x"})
    assert forged.status_code == 403
    answered = await client.post("/signup", data={**NEW_OWNER, "csrf_token": csrf})
    assert (answered.status_code, answered.headers["location"]) == (303, "/signup/sent")
    sent = await client.get("/signup/sent")
    assert "Check your email" in sent.text
    token = await _verification_token(database, test_keyring)
    for _ in range(2):  # a mail scanner following the link confirms nothing
        page = await client.get(f"/verify/{token}")
        assert page.status_code == 200
        assert 'method="post"' in page.text
    user, _account = await _owner(database)
    assert user.status == "invited"
    done = await client.post(f"/verify/{token}", data={"csrf_token": csrf})
    assert (done.status_code, done.headers["location"]) == (303, "/signin")
    signin = await client.get("/signin")
    assert f"The email address of {NEW_OWNER['username']} is confirmed" in signin.text
    user, account = await _owner(database)
    assert (user.status, account.status) == ("active", "active")


@pytest.fixture
async def closed_client(
    tmp_path: Path, database: Database, test_keyring: MasterKeyring
) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        data_dir=tmp_path / "closed", environment="development", signup_enabled=False
    )
    app: Any = create_app(settings, database=database, keyring=test_keyring)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50002))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
        yield http


async def test_switched_off_sign_up_answers_404_and_is_not_offered(
    closed_client: httpx.AsyncClient, database: Database, test_keyring: MasterKeyring
) -> None:
    answer = await _signup(closed_client)
    assert answer.status_code == 404
    assert answer.json()["code"] == "signup_disabled"
    bad_body = await closed_client.post("/api/v1/signup", json={"nonsense": 1})
    assert bad_body.status_code == 404
    verify = await closed_client.post("/api/v1/signup/verify", json={"token": "x" * 43})
    assert verify.status_code == 404
    for path in ("/signup", f"/verify/{'x' * 43}"):
        assert (await closed_client.get(path)).status_code == 404
    assert await _accounts_named(database, NEW_OWNER["account_name"]) == 0
    signin_page = await closed_client.get("/signin")
    assert signin_page.status_code == 200
    assert "/signup" not in signin_page.text
    assert 'href="/reset"' in signin_page.text


# -- phone, CNIC and address (AMANAT_REQUIRE_IDENTITY_FIELDS) ---------------------------------


async def _nothing_stored(database: Database, ring: MasterKeyring) -> None:
    assert await _accounts_named(database, NEW_OWNER["account_name"]) == 0
    assert await person_of(database, ring, NEW_OWNER["username"]) is None
    assert await _mails(database, ring, "identity.verify_email") == []


@VERIFYING_IDENTITY
async def test_sign_up_refuses_a_missing_required_field_by_name_and_stores_nothing(
    verifying_client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    personal_data_guard: LeakGuard,
) -> None:
    # Refused before the people service sees it: seeded here, so the guard checks the answers.
    personal_data_guard.seeded.add_fields({**NEW_OWNER, "phone": PHONE, "cnic": CNIC})
    without_cnic = await _signup(verifying_client, phone=PHONE)
    assert without_cnic.status_code == 422
    assert (without_cnic.json()["code"], without_cnic.json()["field"]) == ("cnic_required", "cnic")
    blank_phone = await _signup(verifying_client, phone=" ", cnic=CNIC)
    assert (blank_phone.json()["code"], blank_phone.json()["field"]) == ("phone_required", "phone")
    await _nothing_stored(database, test_keyring)


@VERIFYING_IDENTITY
async def test_sign_up_stores_the_required_fields(
    verifying_client: httpx.AsyncClient, database: Database, test_keyring: MasterKeyring
) -> None:
    answer = await _signup(verifying_client, phone=PHONE, cnic=CNIC, address=ADDRESS)
    assert answer.status_code == 202, answer.text
    person = await person_of(database, test_keyring, NEW_OWNER["username"])
    assert person is not None
    assert (person.phone, person.cnic) == (PHONE_E164, CNIC_DIGITS)
    assert person.address is not None
    assert (person.address.city, person.address.postal_code) == ("Lahore", "54700")


async def test_with_nothing_required_sign_up_keeps_the_fields_given_and_checks_them(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    personal_data_guard: LeakGuard,
) -> None:
    personal_data_guard.seeded.add_fields({**NEW_OWNER, "phone": "0300 12"})
    bad = await _signup(client, phone="0300 12")
    assert bad.status_code == 422
    assert (bad.json()["code"], bad.json()["field"]) == ("invalid_phone", "phone")
    await _nothing_stored(database, test_keyring)
    answer = await _signup(client, phone=PHONE, address=ADDRESS)
    assert answer.status_code == 202, answer.text
    person = await person_of(database, test_keyring, NEW_OWNER["username"])
    assert person is not None
    assert (person.phone, person.cnic) == (PHONE_E164, None)
    assert person.address is not None


@pytest.mark.asvs("V6.3.8")
async def test_a_cnic_in_use_gets_the_same_answer_and_its_holder_a_warning(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    account_a: str,
) -> None:
    async with database.sessionmaker() as session:
        await invite_user(
            session,
            test_keyring,
            settings,
            OPERATOR,
            account_id=account_a,
            username="cnic-holder",
            full_name="Hina Holder",
            email="holder@example.com",
            role=Role.MEMBER,
            cnic=CNIC,
        )
        await session.commit()
    fresh = await _signup(client)
    taken = await _signup(
        client,
        account_name="Copycat Ltd",
        username="copycat-owner",
        email="copycat@example.com",
        cnic=CNIC.replace("-", ""),
    )
    assert fresh.status_code == taken.status_code == 202
    assert _without_request_id(fresh) == _without_request_id(taken)
    assert await _accounts_named(database, "Copycat Ltd") == 0
    assert await person_of(database, test_keyring, "copycat-owner") is None
    warnings = await _mails(database, test_keyring, "identity.signup_attempt_cnic")
    assert [mail.to for mail in warnings] == ["holder@example.com"]
    verifications = await _mails(database, test_keyring, "identity.verify_email")
    assert [mail.to for mail in verifications] == [NEW_OWNER["email"]]


@VERIFYING_IDENTITY
async def test_the_signup_page_marks_the_required_fields_and_refuses_beside_them(
    verifying_client: httpx.AsyncClient, database: Database, test_keyring: MasterKeyring
) -> None:
    form = await verifying_client.get("/signup")
    assert is_required(form.text, "phone")
    assert is_required(form.text, "cnic")
    assert not is_required(form.text, "line1")
    csrf = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    refused = await verifying_client.post(
        "/signup", data={**NEW_OWNER, "csrf_token": csrf, "cnic": CNIC}
    )
    assert refused.status_code == 422
    assert error_beside(refused.text, "phone") == (
        "Phone number is required for identity verification."
    )
    assert STRONG_PASSWORD not in refused.text
    await _nothing_stored(database, test_keyring)
    sent = await verifying_client.post(
        "/signup", data={**NEW_OWNER, "csrf_token": csrf, "cnic": CNIC, "phone": PHONE, **ADDRESS}
    )
    assert (sent.status_code, sent.headers["location"]) == (303, "/signup/sent"), sent.text
    person = await person_of(database, test_keyring, NEW_OWNER["username"])
    assert person is not None
    assert (person.phone, person.cnic) == (PHONE_E164, CNIC_DIGITS)
    assert person.address is not None
    assert person.address.line1 == ADDRESS["line1"]


async def test_with_nothing_required_the_signup_page_offers_the_fields_as_optional(
    client: httpx.AsyncClient, database: Database, test_keyring: MasterKeyring
) -> None:
    form = await client.get("/signup")
    assert "Phone number (optional)" in form.text
    assert "CNIC (optional)" in form.text
    assert not is_required(form.text, "phone")
    csrf = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    sent = await client.post("/signup", data={**NEW_OWNER, "csrf_token": csrf, "cnic": CNIC})
    assert sent.status_code == 303, sent.text
    person = await person_of(database, test_keyring, NEW_OWNER["username"])
    assert person is not None
    assert (person.phone, person.cnic, person.address) == (None, CNIC_DIGITS, None)
