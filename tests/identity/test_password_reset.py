"""Password reset by email: one answer for every login, a single-use 30-minute link, every
session and API token ended afterwards, the second factor kept, and the owner told."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from amanat.access.actors import OPERATOR, Actor
from amanat.audit.reading import list_records
from amanat.comms.models import OutboxMessage
from amanat.comms.outbox import EmailMessageData, decrypt_message
from amanat.core.clock import utcnow
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.identity.api_tokens import create_api_token
from amanat.identity.models import OneTimeToken, SigninThrottle
from amanat.identity.recovery import RESET_MAILS_PER_USER, RESET_REQUESTS_PER_ADDRESS
from amanat.identity.user_management import force_password_change, suspend_user
from tests.support.identity import Person, forget_used_totp_steps, load_user, next_totp, sign_in

pytestmark = pytest.mark.policy("§4 user responsibility")

NEW_PASSWORD = "quiet lantern mosaic riverbank dusk"


def _without_request_id(response: httpx.Response) -> dict[str, object]:
    body = dict(response.json())
    body.pop("request_id", None)
    return body


async def _mails(database: Database, ring: MasterKeyring, category: str) -> list[EmailMessageData]:
    async with database.sessionmaker() as session:
        rows = await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.category == category)
            .order_by(OutboxMessage.created_at)
        )
        return [decrypt_message(ring, row) for row in rows]


async def _reset_token(database: Database, ring: MasterKeyring) -> str:
    message = (await _mails(database, ring, "identity.password_reset"))[-1]
    link = next(line for line in message.body.splitlines() if "/reset/" in line)
    return link.strip().split("/reset/", 1)[1]


async def _request(client: httpx.AsyncClient, login: str) -> httpx.Response:
    return await client.post("/api/v1/password-reset", json={"login": login})


async def _complete(
    client: httpx.AsyncClient, token: str, password: str = NEW_PASSWORD
) -> httpx.Response:
    return await client.post(
        "/api/v1/password-reset/complete", json={"token": token, "new_password": password}
    )


async def _password_signin(client: httpx.AsyncClient, login: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/session", json={"login": login, "password": password})


@pytest.mark.asvs("V6.3.8", "V6.4.2")
async def test_known_unknown_and_suspended_logins_get_the_same_answer(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    member_a: Person,
    admin_a: Person,
) -> None:
    async with database.sessionmaker() as session:
        await suspend_user(session, test_keyring, OPERATOR, admin_a.user_id)
        await session.commit()
    logins = [
        member_a.username,
        member_a.email.upper(),
        "nobody-here",
        "ghost@example.com",
        "not an address @",
        admin_a.username,  # suspended: no mail either
    ]
    answers = [await _request(client, login) for login in logins]
    assert {response.status_code for response in answers} == {202}
    assert len({str(_without_request_id(response)) for response in answers}) == 1
    assert all("set-cookie" not in response.headers for response in answers)
    mails = await _mails(database, test_keyring, "identity.password_reset")
    assert [mail.to for mail in mails] == [member_a.email, member_a.email]
    assert "/reset/" in mails[0].body
    assert "30 minutes" in mails[0].body


@pytest.mark.asvs("V6.4.1")
async def test_the_link_sets_a_new_password_once(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    member_a: Person,
) -> None:
    assert (await _request(client, member_a.username)).status_code == 202
    token = await _reset_token(database, test_keyring)
    assert len(token) >= 43  # 256 bits
    done = await _complete(second_client, token)
    assert done.status_code == 200, done.text
    again = await _complete(second_client, token, NEW_PASSWORD + " again")
    assert again.status_code == 422
    assert again.json()["code"] == "link_invalid"
    old = await _password_signin(client, member_a.username, member_a.password)
    assert old.status_code == 401
    new = await _password_signin(client, member_a.username, NEW_PASSWORD)
    assert new.status_code == 200
    async with database.sessionmaker() as session:
        actions = [r.action for r in await list_records(session, account_id=member_a.account_id)]
    assert "user.password_reset" in actions


@pytest.mark.asvs("V6.4.1")
async def test_the_link_expires_after_thirty_minutes(
    client: httpx.AsyncClient, database: Database, test_keyring: MasterKeyring, member_a: Person
) -> None:
    assert (await _request(client, member_a.username)).status_code == 202
    token = await _reset_token(database, test_keyring)
    async with database.sessionmaker() as session:
        row = await session.scalar(
            select(OneTimeToken).where(OneTimeToken.purpose == "password_reset")
        )
        assert row is not None
        assert row.expires_at - row.created_at == timedelta(minutes=30)
        row.expires_at = utcnow() - timedelta(seconds=1)
        await session.commit()
    late = await _complete(client, token)
    assert late.status_code == 422
    assert late.json()["code"] == "link_invalid"
    page = await client.get(f"/reset/{token}")
    assert page.status_code == 422
    assert (await _password_signin(client, member_a.username, NEW_PASSWORD)).status_code == 401


@pytest.mark.asvs("V7.4.1", "V7.4.3")
async def test_a_reset_ends_every_session_and_api_token(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    member_a: Person,
) -> None:
    await sign_in(client, member_a, database)
    assert (await client.get("/api/v1/me")).status_code == 200
    async with database.sessionmaker() as session:
        owner = Actor(member_a.user_id, member_a.account_id, member_a.role, session_id="s")
        _row, api_token = await create_api_token(
            session, owner, name="backup script", scopes=["profile:read"]
        )
        await session.commit()
    bearer = {"authorization": f"Bearer {api_token}"}
    assert (await second_client.get("/api/v1/me", headers=bearer)).status_code == 200

    assert (await _request(second_client, member_a.email)).status_code == 202
    token = await _reset_token(database, test_keyring)
    assert (await _complete(second_client, token)).status_code == 200

    assert (await client.get("/api/v1/me")).status_code == 401
    assert (await second_client.get("/api/v1/me", headers=bearer)).status_code == 401


@pytest.mark.asvs("V6.4.3")
async def test_a_reset_keeps_the_second_factor(
    client: httpx.AsyncClient, database: Database, test_keyring: MasterKeyring, member_a: Person
) -> None:
    assert (await _request(client, member_a.username)).status_code == 202
    assert (await _complete(client, await _reset_token(database, test_keyring))).status_code == 200
    assert (await load_user(database, member_a.user_id)).mfa_enabled_at is not None
    signed = await _password_signin(client, member_a.username, NEW_PASSWORD)
    assert signed.status_code == 200
    assert signed.json()["needs_second_factor"] is True
    csrf = {"x-csrf-token": signed.json()["csrf_token"]}
    assert (await client.get("/api/v1/me", headers=csrf)).status_code == 401
    assert member_a.totp_secret is not None
    await forget_used_totp_steps(database, member_a.user_id)
    done = await client.post(
        "/api/v1/session/second-factor",
        json={"code": next_totp(member_a.totp_secret, 0)},
        headers=csrf,
    )
    assert done.status_code == 200


@pytest.mark.asvs("V6.2.1", "V6.2.4", "V6.2.11")
async def test_the_new_password_must_meet_the_policy(
    client: httpx.AsyncClient, database: Database, test_keyring: MasterKeyring, member_a: Person
) -> None:
    assert (await _request(client, member_a.username)).status_code == 202
    token = await _reset_token(database, test_keyring)
    for weak in ("qwertyuiop", f"{member_a.username} forever and ever"):
        refused = await _complete(client, token, weak)
        assert refused.status_code == 422
        assert refused.json()["code"] == "password_rejected"
        assert weak not in refused.text
    # A refusal does not use the link up.
    assert (await _complete(client, token)).status_code == 200


@pytest.mark.asvs("V6.3.7")
async def test_the_owner_is_told_that_the_password_changed(
    client: httpx.AsyncClient, database: Database, test_keyring: MasterKeyring, member_a: Person
) -> None:
    assert (await _request(client, member_a.username)).status_code == 202
    assert await _mails(database, test_keyring, "identity.password_changed") == []
    assert (await _complete(client, await _reset_token(database, test_keyring))).status_code == 200
    notices = await _mails(database, test_keyring, "identity.password_changed")
    assert [notice.to for notice in notices] == [member_a.email]
    assert "second factor is unchanged" in notices[0].body
    assert NEW_PASSWORD not in notices[0].body


async def test_a_reset_lifts_the_lock_and_a_forced_change(
    client: httpx.AsyncClient,
    new_client: Callable[..., httpx.AsyncClient],
    database: Database,
    test_keyring: MasterKeyring,
    member_a: Person,
) -> None:
    async with database.sessionmaker() as session:
        await force_password_change(session, test_keyring, OPERATOR, member_a.user_id)
        await session.commit()
    for _ in range(10):
        async with database.sessionmaker() as session:
            for row in (await session.scalars(select(SigninThrottle))).all():
                if row.failures < 10:
                    row.locked_until = None
            await session.commit()
        await _password_signin(client, member_a.username, "wrong " * 4)
    locked = await _password_signin(client, member_a.username, member_a.password)
    assert locked.status_code == 429
    assert (await _request(client, member_a.username)).status_code == 202
    assert (await _complete(client, await _reset_token(database, test_keyring))).status_code == 200
    # From another address: the guessing address keeps its own wait, rightly.
    async with new_client("203.0.113.7") as elsewhere:
        signed = await _password_signin(elsewhere, member_a.username, NEW_PASSWORD)
    assert signed.status_code == 200
    assert signed.json()["must_change_password"] is False
    assert (await load_user(database, member_a.user_id)).failed_signins == 0


@pytest.mark.asvs("V2.4.1")
async def test_reset_mails_to_one_user_are_capped(
    new_client: Callable[..., httpx.AsyncClient],
    database: Database,
    test_keyring: MasterKeyring,
    member_a: Person,
) -> None:
    # From many addresses, so only the per-user cap can stop the flood.
    for number in range(RESET_MAILS_PER_USER + 3):
        async with new_client(f"198.51.100.{number + 1}") as http:
            assert (await _request(http, member_a.username)).status_code == 202
    mails = await _mails(database, test_keyring, "identity.password_reset")
    assert len(mails) == RESET_MAILS_PER_USER


@pytest.mark.asvs("V2.4.1")
async def test_reset_requests_from_one_address_are_throttled(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    new_client: Callable[..., httpx.AsyncClient],
) -> None:
    for number in range(RESET_REQUESTS_PER_ADDRESS):
        assert (await _request(client, f"someone-{number}")).status_code == 202
    refused = await _request(client, "someone-else")
    assert refused.status_code == 429
    assert refused.json()["code"] == "reset_throttled"
    assert refused.headers["retry-after"] == str(refused.json()["retry_after"])
    async with new_client("203.0.113.9") as elsewhere:
        assert (await _request(elsewhere, "someone-else")).status_code == 202


async def test_reset_pages_work_without_javascript(
    client: httpx.AsyncClient, database: Database, test_keyring: MasterKeyring, member_a: Person
) -> None:
    signin_page = await client.get("/signin")
    assert 'href="/reset"' in signin_page.text
    form = await client.get("/reset")
    assert form.status_code == 200
    csrf = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    forged = await client.post("/reset", data={"login": member_a.username, "csrf_token": "x"})
    assert forged.status_code == 403
    sent = await client.post("/reset", data={"login": member_a.username, "csrf_token": csrf})
    assert (sent.status_code, sent.headers["location"]) == (303, "/reset?sent=1")
    told = await client.get("/reset?sent=1")
    unknown = await client.post("/reset", data={"login": "nobody-here", "csrf_token": csrf})
    assert (unknown.status_code, unknown.headers["location"]) == (303, "/reset?sent=1")
    # The same answer, to the byte, whether or not an account matched.
    assert unknown.headers.get("set-cookie") == sent.headers.get("set-cookie")
    told_again = await client.get("/reset?sent=1")
    assert told_again.text.replace(csrf, "") == told.text.replace(csrf, "")
    assert "check the spelling" in told.text
    token = await _reset_token(database, test_keyring)
    page = await client.get(f"/reset/{token}")
    assert page.status_code == 200
    assert "data-strength" in page.text
    weak = await client.post(
        f"/reset/{token}", data={"new_password": "qwertyuiop", "csrf_token": csrf}
    )
    assert weak.status_code == 422
    done = await client.post(
        f"/reset/{token}", data={"new_password": NEW_PASSWORD, "csrf_token": csrf}
    )
    assert (done.status_code, done.headers["location"]) == (303, "/signin")
    assert "Your password is changed" in (await client.get("/signin")).text
    assert (await _password_signin(client, member_a.username, NEW_PASSWORD)).status_code == 200
