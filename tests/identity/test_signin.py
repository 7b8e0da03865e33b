"""Signing in: one answer for every failure, cookies done right, sessions that end."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from amanat.core.clock import utcnow
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.settings import Settings
from amanat.identity.actors import OPERATOR
from amanat.identity.models import UserSession
from amanat.identity.roles import Role
from amanat.identity.users import suspend_user
from tests.support.identity import Person, make_user, next_totp, sign_in

pytestmark = pytest.mark.policy("§4 access controls")


def _without_request_id(response: httpx.Response) -> dict[str, object]:
    body = dict(response.json())
    body.pop("request_id", None)
    return body


@pytest.mark.asvs("V6.3.8", "V6.1.1")
async def test_unknown_user_wrong_password_and_suspended_user_get_the_same_answer(
    client: httpx.AsyncClient, database: Database, member_a: Person
) -> None:
    async with database.sessionmaker() as session:
        await suspend_user(session, OPERATOR, member_a.user_id)
        await session.commit()
    attempts = [
        {"login": "nobody-here", "password": "whatever whatever whatever"},
        {"login": "admin-x@example.com", "password": "whatever whatever whatever"},
        {"login": member_a.username, "password": member_a.password},  # suspended
    ]
    answers = [await client.post("/api/v1/session", json=body) for body in attempts]
    assert {response.status_code for response in answers} == {401}
    assert len({str(_without_request_id(r)) for r in answers}) == 1
    assert answers[0].json()["code"] == "signin_failed"
    assert all("set-cookie" not in r.headers for r in answers)


@pytest.mark.asvs("V3.3.1", "V3.3.2", "V7.2.1")
async def test_session_cookie_is_host_prefixed_secure_httponly_lax(
    client: httpx.AsyncClient, member_a: Person
) -> None:
    response = await client.post(
        "/api/v1/session", json={"login": member_a.username, "password": member_a.password}
    )
    assert response.status_code == 200
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-amanat_session=")
    for attribute in ("Secure", "HttpOnly", "SameSite=lax", "Path=/"):
        assert attribute.lower() in cookie.lower()
    assert "Domain" not in cookie
    token = cookie.split("=", 1)[1].split(";", 1)[0]
    assert len(token) >= 43  # 256 bits, URL-safe base64
    assert token not in response.text  # the token travels only in Set-Cookie (V3.3.4)


async def test_sign_in_by_email_works_case_insensitively(
    client: httpx.AsyncClient, member_a: Person
) -> None:
    response = await client.post(
        "/api/v1/session",
        json={"login": member_a.email.upper(), "password": member_a.password},
    )
    assert response.status_code == 200
    assert response.json()["username"] == member_a.username


async def test_second_factor_is_required_before_anything_else(
    client: httpx.AsyncClient, member_a: Person
) -> None:
    response = await client.post(
        "/api/v1/session", json={"login": member_a.username, "password": member_a.password}
    )
    assert response.json()["needs_second_factor"] is True
    client.headers["x-csrf-token"] = response.json()["csrf_token"]
    assert (await client.get("/api/v1/me")).status_code == 401
    assert member_a.totp_secret is not None
    done = await client.post(
        "/api/v1/session/second-factor", json={"code": next_totp(member_a.totp_secret)}
    )
    assert done.status_code == 200
    client.headers["x-csrf-token"] = done.json()["csrf_token"]
    me = await client.get("/api/v1/me")
    assert me.status_code == 200
    assert me.json()["email"] == member_a.email  # a person sees their own data in full


@pytest.mark.asvs("V6.5.1")
async def test_a_used_totp_code_cannot_be_replayed(
    client: httpx.AsyncClient, second_client: httpx.AsyncClient, member_a: Person
) -> None:
    assert member_a.totp_secret is not None
    code = next_totp(member_a.totp_secret)
    for http, expected in ((client, 200), (second_client, 401)):
        first = await http.post(
            "/api/v1/session", json={"login": member_a.username, "password": member_a.password}
        )
        answer = await http.post(
            "/api/v1/session/second-factor",
            json={"code": code},
            headers={"x-csrf-token": first.json()["csrf_token"]},
        )
        assert answer.status_code == expected


@pytest.mark.asvs("V7.2.4")
async def test_each_sign_in_issues_a_new_token(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    member_a: Person,
    database: Database,
) -> None:
    await sign_in(client, member_a, database)
    await sign_in(second_client, member_a, database)
    first = client.cookies.get("__Host-amanat_session")
    second = second_client.cookies.get("__Host-amanat_session")
    assert first
    assert second
    assert first != second


@pytest.mark.asvs("V7.4.1", "V14.3.1")
async def test_sign_out_kills_the_session_on_the_server(
    client: httpx.AsyncClient, member_a: Person
) -> None:
    await sign_in(client, member_a)
    token = client.cookies.get("__Host-amanat_session")
    response = await client.delete("/api/v1/session")
    assert response.status_code == 204
    assert "cookies" in response.headers["clear-site-data"]
    # Replaying the old cookie after sign-out gets nothing.
    client.cookies.set("__Host-amanat_session", token or "")
    assert (await client.get("/api/v1/me")).status_code == 401


@pytest.mark.asvs("V7.3.1", "V7.3.2")
async def test_idle_and_absolute_timeouts_are_enforced_on_the_server(
    client: httpx.AsyncClient, member_a: Person, database: Database, settings: Settings
) -> None:
    await sign_in(client, member_a)
    assert (await client.get("/api/v1/me")).status_code == 200
    async with database.sessionmaker() as session:
        row = await session.scalar(
            select(UserSession).where(UserSession.user_id == member_a.user_id)
        )
        assert row is not None
        row.last_seen_at = utcnow() - timedelta(minutes=settings.session_idle_minutes + 1)
        await session.commit()
    assert (await client.get("/api/v1/me")).status_code == 401

    await sign_in(client, member_a, database)
    async with database.sessionmaker() as session:
        row = await session.scalar(
            select(UserSession)
            .where(UserSession.user_id == member_a.user_id)
            .order_by(UserSession.created_at.desc())
        )
        assert row is not None
        row.expires_at = utcnow() - timedelta(seconds=1)
        await session.commit()
    assert (await client.get("/api/v1/me")).status_code == 401


@pytest.mark.asvs("V7.1.2")
async def test_parallel_sessions_are_capped(
    database: Database, test_keyring: MasterKeyring, account_a: str, app: object
) -> None:
    from amanat.web.app import create_app

    settings = Settings(max_sessions_per_user=2)
    person = await make_user(
        database,
        test_keyring,
        settings,
        account_id=account_a,
        username="capped",
        role=Role.MEMBER,
        mfa=False,
    )
    capped_app = create_app(settings, database=database, keyring=test_keyring)
    for _ in range(3):
        transport = httpx.ASGITransport(app=capped_app, client=("127.0.0.1", 1))
        async with httpx.AsyncClient(transport=transport, base_url="https://t") as http:
            await http.post(
                "/api/v1/session", json={"login": person.username, "password": person.password}
            )
    async with database.sessionmaker() as session:
        count = len(
            (
                await session.scalars(
                    select(UserSession).where(UserSession.user_id == person.user_id)
                )
            ).all()
        )
    assert count == 2


@pytest.mark.asvs("V3.5.1", "V3.5.2")
async def test_cookie_state_change_without_csrf_token_is_refused(
    client: httpx.AsyncClient, member_a: Person
) -> None:
    await sign_in(client, member_a)
    token = client.headers.pop("x-csrf-token")
    refused = await client.post("/api/v1/session/sign-out-everywhere")
    assert refused.status_code == 403
    assert refused.json()["code"] == "csrf_failed"
    wrong = await client.post(
        "/api/v1/session/sign-out-everywhere", headers={"x-csrf-token": "0" * 64}
    )
    assert wrong.status_code == 403
    assert (await client.get("/api/v1/me")).status_code == 200  # GET needs no token
    ok = await client.post("/api/v1/session/sign-out-everywhere", headers={"x-csrf-token": token})
    assert ok.status_code == 200
