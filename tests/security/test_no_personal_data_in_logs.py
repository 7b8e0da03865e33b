"""Logs carry ids and outcomes, never personal data, passwords or tokens (ASVS V16.2.5)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from amanat.comms.models import OutboxMessage
from amanat.comms.outbox import decrypt_message
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.logging import configure_logging
from tests.support.identity import Person, sign_in

pytestmark = [pytest.mark.asvs("V16.2.5", "V16.4.1"), pytest.mark.policy("§4 privacy by design")]

NAME = "Zarmeena Qadeer-Lodhi"
EMAIL = "zarmeena.lodhi@example.com"
PASSWORD = "plum sextant harbour velvet nimbus"


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    configure_logging("debug", stream=buffer)
    yield buffer
    configure_logging("info")


async def test_an_invite_sign_in_and_failures_leave_no_personal_data_in_logs(
    log_lines: io.StringIO,
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    admin_a: Person,
    database: Database,
    test_keyring: MasterKeyring,
) -> None:
    await sign_in(client, admin_a, database)
    created = await client.post(
        "/api/v1/users",
        json={"username": "zarmeena", "full_name": NAME, "email": EMAIL, "role": "member"},
    )
    assert created.status_code == 201
    async with database.sessionmaker() as session:
        rows = await session.scalars(
            select(OutboxMessage).where(OutboxMessage.category == "identity.invite")
        )
        mails = [decrypt_message(test_keyring, row) for row in rows]
        body = next(mail.body for mail in mails if mail.to == EMAIL)
        token = body.split("/invite/", 1)[1].split()[0]
    accepted = await second_client.post(
        "/api/v1/invites/accept", json={"token": token, "password": PASSWORD}
    )
    assert accepted.status_code == 200
    await second_client.post("/api/v1/session", json={"login": EMAIL, "password": "wrong " * 3})
    await second_client.post("/api/v1/session", json={"login": EMAIL, "password": PASSWORD})
    await client.post(
        "/api/v1/users",
        json={"username": "zarmeena2", "full_name": NAME, "email": "not an email " + EMAIL},
    )
    text = log_lines.getvalue()
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) >= 6
    for line in lines:
        json.loads(line)  # one JSON object per line: nothing can forge a second entry
    for secret in (
        NAME,
        "Zarmeena",
        "Lodhi",
        EMAIL,
        "zarmeena.lodhi",
        PASSWORD,
        token,
        admin_a.password,
        admin_a.email,
    ):
        assert secret not in text
    assert '"request_id"' in text
