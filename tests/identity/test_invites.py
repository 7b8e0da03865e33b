"""Admins create users by invitation; the link is single-use and short-lived (ASVS V6.4.1)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from amanat.comms.models import OutboxMessage
from amanat.comms.outbox import decrypt_message
from amanat.core.clock import utcnow
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.identity.models import OneTimeToken, User
from tests.support.identity import STRONG_PASSWORD, Person, sign_in

pytestmark = pytest.mark.policy("§4 access controls: admin create users")


async def _invite(client: httpx.AsyncClient, **overrides: str) -> httpx.Response:
    body = {
        "username": "new-user",
        "full_name": "Hina Newcomer",
        "email": "hina@example.com",
        "role": "member",
        **overrides,
    }
    return await client.post("/api/v1/users", json=body)


async def _invite_link(database: Database, ring: MasterKeyring) -> str:
    async with database.sessionmaker() as session:
        row = await session.scalar(
            select(OutboxMessage)
            .where(OutboxMessage.category == "identity.invite")
            .order_by(OutboxMessage.created_at.desc())
        )
        assert row is not None
        message = decrypt_message(ring, row)
    assert message.to == "hina@example.com"
    link = next(line for line in message.body.splitlines() if "/invite/" in line)
    return link.strip().split("/invite/", 1)[1]


async def test_admin_invites_and_the_person_sets_a_password(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    admin_a: Person,
    database: Database,
    test_keyring: MasterKeyring,
) -> None:
    await sign_in(client, admin_a, database)
    created = await _invite(client)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "invited"
    assert body["email"] == "h***@example.com"  # masked for the admin
    assert body["full_name"] == "H. N."
    token = await _invite_link(database, test_keyring)

    weak = await second_client.post(
        "/api/v1/invites/accept", json={"token": token, "password": "qwertyuiop"}
    )
    assert weak.status_code == 422
    assert weak.json()["code"] == "password_rejected"
    assert "qwertyuiop" not in weak.text  # why it was refused, never the password itself

    accepted = await second_client.post(
        "/api/v1/invites/accept", json={"token": token, "password": STRONG_PASSWORD}
    )
    assert accepted.status_code == 200
    again = await second_client.post(
        "/api/v1/invites/accept", json={"token": token, "password": STRONG_PASSWORD + "x"}
    )
    assert again.status_code == 422
    assert again.json()["code"] == "link_invalid"
    signed = await second_client.post(
        "/api/v1/session", json={"login": "new-user", "password": STRONG_PASSWORD}
    )
    assert signed.status_code == 200
    assert signed.json()["needs_mfa_enrolment"] is True  # members need MFA by default


@pytest.mark.asvs("V6.4.1")
async def test_an_expired_invitation_is_refused(
    client: httpx.AsyncClient, admin_a: Person, database: Database, test_keyring: MasterKeyring
) -> None:
    await sign_in(client, admin_a, database)
    assert (await _invite(client)).status_code == 201
    token = await _invite_link(database, test_keyring)
    async with database.sessionmaker() as session:
        for row in (await session.scalars(select(OneTimeToken))).all():
            row.expires_at = utcnow() - timedelta(seconds=1)
        await session.commit()
    late = await client.post(
        "/api/v1/invites/accept", json={"token": token, "password": STRONG_PASSWORD}
    )
    assert late.status_code == 422
    assert late.json()["code"] == "link_invalid"


async def test_duplicate_username_or_email_is_refused_clearly(
    client: httpx.AsyncClient, admin_a: Person, member_a: Person, database: Database
) -> None:
    await sign_in(client, admin_a, database)
    same_name = await _invite(client, username=member_a.username)
    assert same_name.status_code == 409
    assert same_name.json()["code"] == "username_taken"
    same_mail = await _invite(client, email=member_a.email.upper())
    assert same_mail.status_code == 409
    assert same_mail.json()["code"] == "email_taken"
    assert member_a.email not in same_mail.text


async def test_bad_fields_are_named(
    client: httpx.AsyncClient, admin_a: Person, database: Database
) -> None:
    await sign_in(client, admin_a, database)
    bad_email = await _invite(client, email="not-an-address")
    assert bad_email.status_code == 422
    assert bad_email.json()["code"] == "invalid_email"
    assert "not-an-address" not in bad_email.text
    bad_name = await _invite(client, username="A B")
    assert bad_name.json()["code"] == "invalid_username"
    unknown = await client.post(
        "/api/v1/users",
        json={"username": "abc", "full_name": "A", "email": "a@example.com", "cnic": "1"},
    )
    assert unknown.status_code == 422


@pytest.mark.asvs("V8.2.1")
async def test_an_admin_cannot_create_an_owner_or_staff(
    client: httpx.AsyncClient, admin_a: Person, database: Database
) -> None:
    await sign_in(client, admin_a, database)
    for role in ("owner", "admin", "platform_admin"):
        response = await _invite(client, role=role, username=f"x-{role}".replace("_", "-"))
        assert response.status_code == 403, role
    async with database.sessionmaker() as session:
        assert await session.scalar(select(User).where(User.username.like("x-%"))) is None


async def test_a_member_cannot_invite(
    client: httpx.AsyncClient, member_a: Person, database: Database
) -> None:
    await sign_in(client, member_a, database)
    assert (await _invite(client)).status_code == 403
