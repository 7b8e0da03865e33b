"""What the activity tests share: real user-agent strings, clients that send them from a given
address, sign-in over the API, and reading the security history back through the ORM."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import select

from amanat.activity.models import KnownDevice, SecurityEvent
from amanat.comms.models import OutboxMessage
from amanat.comms.outbox import EmailMessageData, decrypt_message
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.identity.models import SigninThrottle
from tests.support.identity import Person, forget_used_totp_steps, next_totp

CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
EDGE_WINDOWS = CHROME_WINDOWS + " Edg/120.0.2210.91"
CHROME_ANDROID_PHONE = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.144 Mobile Safari/537.36"
)
CHROME_ANDROID_TABLET = (
    "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
SAFARI_IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Mobile/15E148 Safari/604.1"
)
CURL = "curl/8.5.0"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def browser(app: Any, address: str, agent: str) -> httpx.AsyncClient:
    """A client with its own cookie jar, connecting from `address` and sending `agent`."""
    transport = httpx.ASGITransport(app=app, client=(address, 50123))
    return httpx.AsyncClient(
        transport=transport, base_url="https://testserver", headers={"user-agent": agent}
    )


async def sign_in(
    http: httpx.AsyncClient, person: Person, database: Database, *, code_step: int = 0
) -> str:
    """Sign in over the API (second factor too when the person has one); the CSRF token."""
    if person.totp_secret is not None:
        await forget_used_totp_steps(database, person.user_id)
    response = await http.post(
        "/api/v1/session", json={"login": person.username, "password": person.password}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    if body["needs_second_factor"]:
        assert person.totp_secret is not None
        response = await http.post(
            "/api/v1/session/second-factor",
            json={"code": next_totp(person.totp_secret, code_step)},
            headers={"x-csrf-token": body["csrf_token"]},
        )
        assert response.status_code == 200, response.text
        body = response.json()
    token: str = body["csrf_token"]
    http.headers["x-csrf-token"] = token
    return token


async def events_of(
    database: Database, user_id: str, since: datetime | None = None
) -> list[SecurityEvent]:
    """A user's events in the order they happened (those since `since` when given)."""
    async with database.sessionmaker() as session:
        statement = select(SecurityEvent).where(SecurityEvent.user_id == user_id)
        if since is not None:
            statement = statement.where(SecurityEvent.at >= since)
        rows = await session.scalars(statement.order_by(SecurityEvent.at))
        return list(rows)


async def clear_signin_delays(database: Database) -> None:
    """Skip the growing waits between failed attempts (time passing), keeping the counts."""
    async with database.sessionmaker() as session:
        for row in (await session.scalars(select(SigninThrottle))).all():
            row.locked_until = None
        await session.commit()


async def devices_of(database: Database, user_id: str) -> list[KnownDevice]:
    async with database.sessionmaker() as session:
        rows = await session.scalars(select(KnownDevice).where(KnownDevice.user_id == user_id))
        return list(rows)


def kinds(events: Sequence[SecurityEvent]) -> list[tuple[str, str]]:
    return [(event.kind, event.outcome) for event in events]


async def queued_mails(
    database: Database, ring: MasterKeyring, category: str
) -> list[EmailMessageData]:
    async with database.sessionmaker() as session:
        rows = await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.category == category)
            .order_by(OutboxMessage.created_at)
        )
        return [decrypt_message(ring, row) for row in rows]
