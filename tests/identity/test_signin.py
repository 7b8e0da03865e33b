"""Signing in: one answer for every failure, cookies done right, sessions that end."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import httpx
import pytest
from argon2 import PasswordHasher
from argon2.low_level import Type
from sqlalchemy import select

from amanat.access.actors import OPERATOR, Actor
from amanat.access.roles import Role
from amanat.comms.models import OutboxMessage
from amanat.comms.outbox import decrypt_message
from amanat.core.clock import utcnow
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.settings import Settings
from amanat.identity import hashing, mfa, mfa_enrolment, signin
from amanat.identity.models import RecoveryCode, SigninThrottle, User, UserSession
from amanat.identity.password_policy import common_passwords, normalize_password
from amanat.identity.user_management import suspend_user, unlock_user
from tests.support.identity import Person, load_user, make_user, next_totp, sign_in

pytestmark = pytest.mark.policy("§4 access controls")


def _without_request_id(response: httpx.Response) -> dict[str, object]:
    body = dict(response.json())
    body.pop("request_id", None)
    return body


@pytest.mark.asvs("V6.3.8", "V6.1.1")
async def test_unknown_user_wrong_password_and_suspended_user_get_the_same_answer(
    client: httpx.AsyncClient, database: Database, test_keyring: MasterKeyring, member_a: Person
) -> None:
    async with database.sessionmaker() as session:
        await suspend_user(session, test_keyring, OPERATOR, member_a.user_id)
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
    # The session cookie expires and the cache and storage are cleared; the device cookie stays
    # (a blanket "cookies" would make the next sign-in from this browser a "new device").
    assert response.headers["clear-site-data"] == '"cache", "storage"'
    expired = [h for h in response.headers.get_list("set-cookie") if "amanat_session=" in h]
    assert expired
    assert "max-age=0" in expired[0].lower()
    assert "__Host-amanat_session" not in client.cookies
    assert "__Host-amanat_device" in client.cookies
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


async def _wait_out_throttles(database: Database) -> None:
    """Time passes: every wait and lock runs out (the counts stay)."""
    async with database.sessionmaker() as session:
        for row in (await session.scalars(select(SigninThrottle))).all():
            row.locked_until = None
        await session.commit()


async def _password_step(client: httpx.AsyncClient, login: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/session", json={"login": login, "password": password})


@pytest.mark.asvs("V6.3.8", "V6.1.1")
async def test_every_failed_sign_in_spends_one_argon2_verification_and_gets_one_answer(
    new_client: Callable[..., httpx.AsyncClient],
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    account_a: str,
    member_a: Person,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    suspended = await make_user(
        database, test_keyring, settings, account_id=account_a, username="on-hold", mfa=False
    )
    invited = await make_user(
        database, test_keyring, settings, account_id=account_a, username="not-yet", activate=False
    )
    async with database.sessionmaker() as session:
        await suspend_user(session, test_keyring, OPERATOR, suspended.user_id)
        await session.commit()
    stored = {
        person.username: (await load_user(database, person.user_id)).password_hash
        for person in (member_a, suspended)
    }
    # A spy on the real verification (argon2 still runs): which hash each attempt checked.
    verified: list[str] = []
    real_verify = PasswordHasher.verify

    def counting_verify(self: PasswordHasher, hash: str | bytes, password: str | bytes) -> bool:
        verified.append(hash if isinstance(hash, str) else hash.decode())
        return real_verify(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting_verify)
    attempts = [
        ("nobody-here", "whatever whatever whatever", hashing._dummy_hash()),
        ("nobody@example.com", "whatever whatever whatever", hashing._dummy_hash()),
        (invited.username, "whatever whatever whatever", hashing._dummy_hash()),
        (member_a.username, "wrong wrong wrong wrong", stored[member_a.username]),
        (suspended.username, suspended.password, stored[suspended.username]),
    ]
    answers = []
    for number, (login, password, expected_hash) in enumerate(attempts):
        verified.clear()
        # Each from its own address, so no throttle delay tells the attempts apart.
        async with new_client(f"198.51.100.{40 + number}") as http:
            answers.append(await _password_step(http, login, password))
        assert verified == [expected_hash], login
    assert {response.status_code for response in answers} == {401}
    assert len({str(_without_request_id(r)) for r in answers}) == 1
    assert answers[0].json()["code"] == "signin_failed"
    assert all("set-cookie" not in r.headers for r in answers)


@pytest.mark.asvs("V11.4.2")
async def test_a_hash_made_with_other_argon2_parameters_is_replaced_at_sign_in(
    client: httpx.AsyncClient, database: Database, member_a: Person
) -> None:
    older = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1, type=Type.ID)
    async with database.sessionmaker() as session:
        user = await session.get(User, member_a.user_id)
        assert user is not None
        user.password_hash = older.hash(normalize_password(member_a.password))
        old_hash = user.password_hash
        await session.commit()
    assert (await _password_step(client, member_a.username, member_a.password)).status_code == 200
    rehashed = (await load_user(database, member_a.user_id)).password_hash
    assert rehashed is not None
    assert rehashed != old_hash
    assert rehashed.startswith(
        f"$argon2id$v=19$m={hashing.ARGON2_MEMORY_KIB},t={hashing.ARGON2_TIME_COST},"
        f"p={hashing.ARGON2_PARALLELISM}$"
    )
    # The same password still opens it, and a current hash is left as it is.
    assert (await _password_step(client, member_a.username, member_a.password)).status_code == 200
    assert (await load_user(database, member_a.user_id)).password_hash == rehashed


@pytest.mark.asvs("V6.2.10")
async def test_a_password_found_on_the_common_list_at_sign_in_must_be_changed(
    client: httpx.AsyncClient, database: Database, member_a: Person
) -> None:
    # Set before the list grew to hold it: only the sign-in can notice.
    common = sorted(common_passwords())[0]
    async with database.sessionmaker() as session:
        user = await session.get(User, member_a.user_id)
        assert user is not None
        user.password_hash = hashing.hash_password(normalize_password(common))
        await session.commit()
    first = await _password_step(client, member_a.username, common)
    assert first.status_code == 200
    assert first.json()["must_change_password"] is True
    assert (await load_user(database, member_a.user_id)).must_change_password is True
    await sign_in(client, replace(member_a, password=common), database)
    blocked = await client.get("/api/v1/me/sessions")
    assert blocked.status_code == 403
    assert blocked.json()["code"] == "password_change_required"


async def _with_recovery_codes(
    database: Database, ring: MasterKeyring, settings: Settings, account_id: str
) -> tuple[Person, list[str]]:
    """A user who enrolled TOTP, and the ten recovery codes they were shown."""
    person = await make_user(
        database, ring, settings, account_id=account_id, username="codes-only", mfa=False
    )
    async with database.sessionmaker() as session:
        user = await session.get(User, person.user_id)
        assert user is not None
        enrolment = await mfa_enrolment.start_totp_enrolment(session, ring, user=user)
        codes = await mfa_enrolment.confirm_totp_enrolment(
            session, ring, user=user, code=next_totp(enrolment.secret, 0), session_id="none"
        )
        await session.commit()
    return person, codes


async def _second_step(http: httpx.AsyncClient, person: Person, code: str) -> httpx.Response:
    first = await _password_step(http, person.username, person.password)
    assert first.json()["needs_second_factor"] is True
    return await http.post(
        "/api/v1/session/second-factor",
        json={"code": code},
        headers={"x-csrf-token": first.json()["csrf_token"]},
    )


@pytest.mark.asvs("V6.5.1")
async def test_a_recovery_code_finishes_a_sign_in_once_and_is_refused_after(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    account_a: str,
) -> None:
    person, codes = await _with_recovery_codes(database, test_keyring, settings, account_a)
    used = await _second_step(client, person, codes[0])
    assert used.status_code == 200
    client.headers["x-csrf-token"] = used.json()["csrf_token"]
    assert (await client.get("/api/v1/me/sessions")).status_code == 200
    again = await _second_step(second_client, person, codes[0])
    assert again.status_code == 401
    assert again.json()["code"] == "mfa_failed"
    # Only that code is spent: the next one still works.
    assert (await _second_step(second_client, person, codes[1])).status_code == 200


@pytest.mark.asvs("V6.5.1")
async def test_a_recovery_code_that_holds_six_digits_is_still_a_recovery_code(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    account_a: str,
) -> None:
    person, _codes = await _with_recovery_codes(database, test_keyring, settings, account_a)
    # About one code in seven holds exactly six digits, like a TOTP code. The codes are random,
    # so one stored code is made such a code here.
    six_digits = "23456-7abcd-efghj-kmnpq-rstuv-wxyza"
    assert sum(ch.isdigit() for ch in six_digits) == 6
    async with database.sessionmaker() as session:
        stored = await session.scalar(
            select(RecoveryCode).where(RecoveryCode.user_id == person.user_id)
        )
        assert stored is not None
        stored.code_hash = mfa.hash_recovery_code(six_digits)
        await session.commit()
    assert (await _second_step(client, person, six_digits)).status_code == 200


@pytest.mark.asvs("V6.1.1", "V6.3.1")
@pytest.mark.parametrize("lifted_by", ["admin_unlock", "password_reset"])
async def test_after_100_consecutive_failures_the_password_is_disabled_until_lifted(
    lifted_by: str,
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    admin_a: Person,
    member_a: Person,
) -> None:
    for _ in range(signin.MAX_CONSECUTIVE_FAILURES):
        await _wait_out_throttles(database)
        wrong = await _password_step(client, member_a.username, "not the password at all")
        assert wrong.status_code == 401
    await _wait_out_throttles(database)
    # Every wait has run out, yet the right password is refused, with the usual answer.
    refused = await _password_step(client, member_a.username, member_a.password)
    assert refused.status_code == 401
    assert _without_request_id(refused) == _without_request_id(wrong)

    new_password = member_a.password
    if lifted_by == "admin_unlock":
        async with database.sessionmaker() as session:
            admin = Actor(admin_a.user_id, admin_a.account_id, admin_a.role)
            await unlock_user(session, test_keyring, admin, member_a.user_id)
            await session.commit()
    else:
        new_password = "quiet lantern mosaic riverbank dusk"
        asked = await client.post("/api/v1/password-reset", json={"login": member_a.username})
        assert asked.status_code == 202
        async with database.sessionmaker() as session:
            mail = await session.scalar(
                select(OutboxMessage).where(OutboxMessage.category == "identity.password_reset")
            )
            assert mail is not None
            body = decrypt_message(test_keyring, mail).body
        token = body.split("/reset/", 1)[1].split()[0]
        done = await client.post(
            "/api/v1/password-reset/complete", json={"token": token, "new_password": new_password}
        )
        assert done.status_code == 200
    await _wait_out_throttles(database)
    assert (await _password_step(client, member_a.username, new_password)).status_code == 200
