"""Building identity state for tests through the services, as an admin would."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import httpx
import pyotp
import pytest
from sqlalchemy import select

from amanat.access.actors import OPERATOR
from amanat.access.roles import PLATFORM_ROLES, Role
from amanat.core.clock import utcnow
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.settings import Settings
from amanat.identity import invitations, mfa_enrolment
from amanat.identity.accounts import create_customer_account, platform_account
from amanat.identity.invitations import invite_user
from amanat.identity.models import User
from amanat.people.personal_data import PersonData, read_person

STRONG_PASSWORD = "correct horse battery staple orbit"

# A person's identity fields as typed (into a form, a body or an option), and as stored.
PHONE = "0300 1234567"
PHONE_E164 = "+923001234567"
CNIC = "35202-1234567-1"
CNIC_DIGITS = "3520212345671"
ADDRESS = {
    "line1": "House 12, Street 4",
    "city": "Lahore",
    "province": "Punjab",
    "postal_code": "54700",
}
VERIFYING_IDENTITY = pytest.mark.policy(
    "§2 manage the respective customer account: verifying identity"
)


def next_totp(secret: str, steps_ahead: int = 1) -> str:
    """A code for a later time step: codes of steps already used are refused (replay)."""
    moment = utcnow() + timedelta(seconds=30 * steps_ahead)
    return pyotp.TOTP(secret).at(moment)


@dataclass
class Person:
    user_id: str
    account_id: str
    username: str
    email: str
    password: str
    totp_secret: str | None
    role: Role


async def make_account(database: Database, name: str) -> str:
    async with database.sessionmaker() as session:
        account = await create_customer_account(session, OPERATOR, name=name)
        await session.commit()
        return account.id


async def make_user(
    database: Database,
    ring: MasterKeyring,
    settings: Settings,
    *,
    account_id: str | None,
    username: str,
    role: Role = Role.MEMBER,
    email: str | None = None,
    full_name: str = "Test Person",
    password: str = STRONG_PASSWORD,
    mfa: bool = True,
    activate: bool = True,
) -> Person:
    """An invited user who accepted the invitation (and enrolled TOTP when `mfa`)."""
    email = email or f"{username}@example.com"
    async with database.sessionmaker() as session:
        if account_id is None or role in PLATFORM_ROLES:
            account_id = (await platform_account(session)).id
        user, token = await invite_user(
            session,
            ring,
            settings,
            OPERATOR,
            account_id=account_id,
            username=username,
            full_name=full_name,
            email=email,
            role=role,
        )
        secret: str | None = None
        if activate:
            await invitations.accept_invite(session, ring, settings, token=token, password=password)
            if mfa:
                enrolment = await mfa_enrolment.start_totp_enrolment(session, ring, user=user)
                secret = enrolment.secret
                await mfa_enrolment.confirm_totp_enrolment(
                    session, ring, user=user, code=next_totp(secret, 0), session_id="none"
                )
        await session.commit()
        return Person(user.id, account_id, username, email, password, secret, role)


async def person_of(database: Database, ring: MasterKeyring, username: str) -> PersonData | None:
    """The personal data of the user with this username, read through the people service;
    None when there is no such user."""
    async with database.sessionmaker() as session:
        user = await session.scalar(select(User).where(User.username == username))
        if user is None or user.person_id is None:
            return None
        return await read_person(session, ring, user.person_id)


async def load_user(database: Database, user_id: str) -> User:
    async with database.sessionmaker() as session:
        user = await session.get(User, user_id)
        assert user is not None
        return user


async def forget_used_totp_steps(database: Database, user_id: str) -> None:
    """Let a test sign in several times within one 30-second step: replay protection would
    (rightly) refuse the same code twice. Replay itself is tested on its own."""
    async with database.sessionmaker() as session:
        user = await session.get(User, user_id)
        assert user is not None
        user.totp_last_step = None
        await session.commit()


async def sign_in(
    client: httpx.AsyncClient, person: Person, database: Database | None = None
) -> str:
    """Sign in through the API (with the second factor when set); returns the CSRF token."""
    if database is not None and person.totp_secret is not None:
        await forget_used_totp_steps(database, person.user_id)
    response = await client.post(
        "/api/v1/session", json={"login": person.username, "password": person.password}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    if body["needs_second_factor"]:
        assert person.totp_secret is not None
        response = await client.post(
            "/api/v1/session/second-factor",
            json={"code": next_totp(person.totp_secret, 0 if database else 1)},
            headers={"x-csrf-token": body["csrf_token"]},
        )
        assert response.status_code == 200, response.text
        body = response.json()
    token: str = body["csrf_token"]
    client.headers["x-csrf-token"] = token
    return token
