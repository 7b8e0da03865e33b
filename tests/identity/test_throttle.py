"""Guessing is slowed, then refused; the owner of a locked account is told by email."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import select

from amanat.access.actors import OPERATOR
from amanat.comms.models import OutboxMessage
from amanat.comms.outbox import decrypt_message
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.identity.models import SigninThrottle
from tests.support.identity import Person

pytestmark = [pytest.mark.asvs("V2.4.1", "V6.1.1"), pytest.mark.policy("§4 user responsibility")]


async def _clear_delays(database: Database) -> None:
    """Skip the growing waits between attempts (time passing), keeping the counts."""
    async with database.sessionmaker() as session:
        for row in (await session.scalars(select(SigninThrottle))).all():
            if row.failures < 10:
                row.locked_until = None
        await session.commit()


async def test_failures_on_one_user_lock_it_and_mail_the_owner(
    client: httpx.AsyncClient, member_a: Person, database: Database, test_keyring: MasterKeyring
) -> None:
    statuses = []
    for _ in range(10):
        await _clear_delays(database)
        response = await client.post(
            "/api/v1/session", json={"login": member_a.username, "password": "wrong " * 4}
        )
        statuses.append(response.status_code)
    assert statuses == [401] * 10
    locked = await client.post(
        "/api/v1/session", json={"login": member_a.username, "password": member_a.password}
    )
    assert locked.status_code == 429
    assert locked.json()["code"] == "signin_throttled"
    assert locked.json()["retry_after"] > 60
    async with database.sessionmaker() as session:
        rows = (
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.category == "identity.locked")
            )
        ).all()
        assert len(rows) == 1
        assert decrypt_message(test_keyring, rows[0]).to == member_a.email


async def test_early_failures_bring_growing_waits(
    client: httpx.AsyncClient, member_a: Person
) -> None:
    answers = [
        (
            await client.post(
                "/api/v1/session", json={"login": member_a.username, "password": "nope nope nope"}
            )
        )
        for _ in range(6)
    ]
    assert [a.status_code for a in answers[:3]] == [401, 401, 401]
    assert 429 in [a.status_code for a in answers[3:]]


async def test_a_successful_sign_in_forgets_the_names_failures_not_the_addresss(
    client: httpx.AsyncClient, member_a: Person, database: Database
) -> None:
    for _ in range(2):
        wrong = await client.post(
            "/api/v1/session", json={"login": member_a.username, "password": "nope nope nope"}
        )
        assert wrong.status_code == 401
    right = await client.post(
        "/api/v1/session", json={"login": member_a.username, "password": member_a.password}
    )
    assert right.status_code == 200
    async with database.sessionmaker() as session:
        counts = {
            row.scope: row.failures for row in (await session.scalars(select(SigninThrottle))).all()
        }
    # The name starts afresh; the address keeps counting (it may be guessing other names).
    assert counts == {"address": 2}


async def test_an_admin_unlock_lets_the_user_back_in(
    client: httpx.AsyncClient,
    member_a: Person,
    database: Database,
    test_keyring: MasterKeyring,
    new_client: Callable[..., httpx.AsyncClient],
) -> None:
    from amanat.identity.user_management import unlock_user

    for _ in range(10):
        await _clear_delays(database)
        await client.post(
            "/api/v1/session", json={"login": member_a.username, "password": "wrong " * 4}
        )
    async with database.sessionmaker() as session:
        await unlock_user(session, test_keyring, OPERATOR, member_a.user_id)
        await session.commit()
    async with new_client("198.51.100.20") as elsewhere:
        answer = await elsewhere.post(
            "/api/v1/session", json={"login": member_a.username, "password": member_a.password}
        )
    assert answer.status_code == 200
