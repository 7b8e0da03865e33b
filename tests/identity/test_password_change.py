"""Changing one's own password needs the current one (ASVS V6.2.3), and guesses at it are
throttled with the user's sign-ins: a stolen session cannot guess without limit (V2.4.1)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from amanat.comms.models import OutboxMessage
from amanat.comms.outbox import decrypt_message
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.settings import Settings
from amanat.identity.models import SigninThrottle
from amanat.identity.throttle import FREE_FAILURES
from tests.support.identity import Person, load_user, sign_in

pytestmark = pytest.mark.policy("§4 user responsibility")

NEW_PASSWORD = "violet tundra lantern mosaic quill"
WRONG = "surely this is not it"


async def _wait_out_throttles(database: Database) -> None:
    """Time passes: every wait and lock runs out (the counts stay)."""
    async with database.sessionmaker() as session:
        for row in (await session.scalars(select(SigninThrottle))).all():
            row.locked_until = None
        await session.commit()


async def _change(
    client: httpx.AsyncClient, current: str, new: str = NEW_PASSWORD
) -> httpx.Response:
    return await client.post(
        "/api/v1/me/password", json={"current_password": current, "new_password": new}
    )


async def _change_by_form(
    client: httpx.AsyncClient, csrf: str, current: str, new: str = NEW_PASSWORD
) -> httpx.Response:
    return await client.post(
        "/account/password",
        data={"csrf_token": csrf, "current_password": current, "new_password": new},
    )


@pytest.mark.asvs("V6.2.2", "V6.2.3")
async def test_a_wrong_current_password_is_refused_by_the_api_and_the_page(
    client: httpx.AsyncClient, database: Database, member_a: Person
) -> None:
    csrf = await sign_in(client, member_a, database)
    before = (await load_user(database, member_a.user_id)).password_hash
    refused = await _change(client, WRONG)
    assert refused.status_code == 422
    assert refused.json()["code"] == "current_password_wrong"
    page = await _change_by_form(client, csrf, WRONG)
    assert page.status_code == 422
    assert "The current password is not right." in page.text
    assert (await load_user(database, member_a.user_id)).password_hash == before
    # With the current password, the change goes through.
    assert (await _change(client, member_a.password)).status_code == 200
    assert (await load_user(database, member_a.user_id)).password_hash != before


@pytest.mark.asvs("V6.2.3", "V2.4.1")
async def test_guesses_at_the_current_password_bring_growing_waits(
    client: httpx.AsyncClient, database: Database, member_a: Person
) -> None:
    await sign_in(client, member_a, database)
    for _ in range(FREE_FAILURES):
        assert (await _change(client, WRONG)).status_code == 422
    waits: list[int] = []
    for _ in range(3):
        # Not even the right password is checked while the user must wait.
        held = await _change(client, member_a.password)
        assert held.status_code == 429
        assert held.json()["code"] == "reauthentication_throttled"
        waits.append(held.json()["retry_after"])
        await _wait_out_throttles(database)
        assert (await _change(client, WRONG)).status_code == 422
    assert waits == sorted(waits)
    assert waits[-1] > waits[0]


@pytest.mark.asvs("V6.2.3", "V2.4.1")
async def test_guesses_at_the_current_password_lock_sign_in_too_and_mail_the_owner(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    member_a: Person,
) -> None:
    await sign_in(client, member_a, database)
    for _ in range(settings.signin_lock_failures):
        await _wait_out_throttles(database)
        assert (await _change(client, WRONG)).status_code == 422
    locked = await _change(client, member_a.password)
    assert locked.status_code == 429
    assert locked.json()["retry_after"] > 60
    # The same count as sign-in: the other door is shut as well.
    signin = await second_client.post(
        "/api/v1/session", json={"login": member_a.username, "password": member_a.password}
    )
    assert signin.status_code == 429
    async with database.sessionmaker() as session:
        mails = (
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.category == "identity.locked")
            )
        ).all()
        assert [decrypt_message(test_keyring, mail).to for mail in mails] == [member_a.email]


@pytest.mark.asvs("V6.2.3", "V2.4.1")
async def test_the_page_counts_wrong_current_passwords_as_the_api_does(
    client: httpx.AsyncClient, database: Database, member_a: Person
) -> None:
    csrf = await sign_in(client, member_a, database)
    for _ in range(FREE_FAILURES):
        assert (await _change_by_form(client, csrf, WRONG)).status_code == 422
    held = await _change_by_form(client, csrf, member_a.password)
    assert held.status_code == 429
    assert "Too many wrong passwords" in held.text
    assert (await _change(client, member_a.password)).status_code == 429


async def test_a_completed_change_clears_the_count(
    client: httpx.AsyncClient, database: Database, member_a: Person
) -> None:
    await sign_in(client, member_a, database)
    for _ in range(FREE_FAILURES - 1):
        assert (await _change(client, WRONG)).status_code == 422
    assert (await _change(client, member_a.password)).status_code == 200
    for _ in range(FREE_FAILURES):
        assert (await _change(client, WRONG, new=member_a.password)).status_code == 422
