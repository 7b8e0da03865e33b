"""API tokens for programs: scoped, expiring, shown once, stored hashed, with a visible prefix;
never more than the owner's role allows, and never a way into credentials, sessions or pages."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from amanat.access.actors import OPERATOR, Actor
from amanat.access.roles import Role
from amanat.audit.models import AuditRecord
from amanat.core.clock import utcnow
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from amanat.identity import api_tokens
from amanat.identity.api_tokens import (
    MAX_LIVE_TOKENS_PER_USER,
    ApiScope,
    create_api_token,
    list_api_tokens,
    resolve_api_token,
    revoke_api_token,
)
from amanat.identity.models import ApiToken, User
from amanat.identity.user_management import suspend_user
from tests.support.identity import Person, load_user, sign_in

pytestmark = pytest.mark.policy("§4 access controls")

TOKEN_SHAPE = re.compile(r"amn_([a-z0-9]{8})_[A-Za-z0-9_-]{43}")


def _actor(person: Person, via: str = "session") -> Actor:
    return Actor(user_id=person.user_id, account_id=person.account_id, role=person.role, via=via)


async def _make_token(
    database: Database,
    person: Person,
    *scopes: ApiScope,
    valid_days: int = 90,
    name: str = "deploy script",
) -> tuple[str, str]:
    """A token made by its owner through the service; returns (id, plaintext)."""
    async with database.sessionmaker() as session:
        row, plaintext = await create_api_token(
            session,
            _actor(person),
            name=name,
            scopes=[scope.value for scope in scopes],
            valid_days=valid_days,
        )
        await session.commit()
        return row.id, plaintext


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def _token_row(database: Database, token_id: str) -> ApiToken:
    async with database.sessionmaker() as session:
        row = await session.get(ApiToken, token_id)
        assert row is not None
        return row


@pytest.mark.asvs("V7.2.1", "V11.5.1")
async def test_a_token_made_through_the_api_works_as_a_bearer_for_its_scopes(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    admin_a: Person,
    member_a: Person,
    database: Database,
) -> None:
    await sign_in(client, admin_a, database)
    made = await client.post(
        "/api/v1/me/api-tokens",
        json={"name": "nightly report", "scopes": ["profile:read", "users:read"]},
    )
    assert made.status_code == 201, made.text
    body = made.json()
    token = body["token"]
    shape = TOKEN_SHAPE.fullmatch(token)
    assert shape is not None
    assert shape.group(1) == body["prefix"]
    assert body["scopes"] == ["profile:read", "users:read"]
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(days=89) < expires - utcnow() <= timedelta(days=90)

    me = await second_client.get("/api/v1/me", headers=_bearer(token))
    assert me.status_code == 200, me.text
    assert me.json()["username"] == admin_a.username
    assert me.json()["csrf_token"] == ""
    assert "set-cookie" not in me.headers
    users = await second_client.get("/api/v1/users", headers=_bearer(token))
    assert users.status_code == 200
    assert {row["username"] for row in users.json()} == {admin_a.username, member_a.username}
    one = await second_client.get(f"/api/v1/users/{member_a.user_id}", headers=_bearer(token))
    assert one.status_code == 200


@pytest.mark.asvs("V11.5.1")
async def test_every_token_is_a_fresh_256_bit_secret(database: Database, member_a: Person) -> None:
    tokens = [(await _make_token(database, member_a, ApiScope.PROFILE_READ))[1] for _ in range(5)]
    assert len(set(tokens)) == 5
    assert all(TOKEN_SHAPE.fullmatch(token) for token in tokens)
    assert len({token[4:12] for token in tokens}) == 5
    # 43 URL-safe characters carry 258 bits; token_urlsafe(32) draws 256 of them from `secrets`.
    assert all(len(token[13:]) == 43 for token in tokens)


@pytest.mark.asvs("V8.2.1")
async def test_a_scope_the_token_lacks_is_refused(
    second_client: httpx.AsyncClient, admin_a: Person, member_a: Person, database: Database
) -> None:
    _id, token = await _make_token(database, admin_a, ApiScope.PROFILE_READ)
    assert (await second_client.get("/api/v1/me", headers=_bearer(token))).status_code == 200
    listed = await second_client.get("/api/v1/users", headers=_bearer(token))
    assert listed.status_code == 403
    assert listed.json()["code"] == "insufficient_scope"
    suspend = await second_client.post(
        f"/api/v1/users/{member_a.user_id}/suspend", headers=_bearer(token)
    )
    assert suspend.status_code == 403
    assert suspend.json()["code"] == "insufficient_scope"

    _id, reader = await _make_token(database, admin_a, ApiScope.USERS_READ)
    assert (await second_client.get("/api/v1/users", headers=_bearer(reader))).status_code == 200
    assert (await second_client.get("/api/v1/me", headers=_bearer(reader))).status_code == 403
    write = await second_client.post(
        f"/api/v1/users/{member_a.user_id}/suspend", headers=_bearer(reader)
    )
    assert write.status_code == 403
    assert (await load_user(database, member_a.user_id)).status == "active"


@pytest.mark.asvs("V8.2.1")
async def test_a_member_cannot_make_a_token_beyond_their_role(
    client: httpx.AsyncClient, member_a: Person, database: Database
) -> None:
    await sign_in(client, member_a, database)
    refused = await client.post(
        "/api/v1/me/api-tokens", json={"name": "sneaky", "scopes": ["users:write"]}
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == "scope_not_allowed"
    with pytest.raises(Forbidden):
        await _make_token(database, member_a, ApiScope.USERS_READ)
    assert (await client.get("/api/v1/me/api-tokens")).json() == []
    allowed = await client.post(
        "/api/v1/me/api-tokens", json={"name": "my script", "scopes": ["profile:read"]}
    )
    assert allowed.status_code == 201


@pytest.mark.asvs("V8.2.1")
async def test_a_demoted_owner_s_token_loses_the_power_the_new_role_lacks(
    second_client: httpx.AsyncClient, admin_a: Person, database: Database
) -> None:
    _id, token = await _make_token(database, admin_a, ApiScope.USERS_READ, ApiScope.PROFILE_READ)
    assert (await second_client.get("/api/v1/users", headers=_bearer(token))).status_code == 200
    # No role-change service exists yet: the demotion is written directly.
    async with database.sessionmaker() as session:
        user = await session.get(User, admin_a.user_id)
        assert user is not None
        user.role = Role.MEMBER
        await session.commit()
    demoted = await second_client.get("/api/v1/users", headers=_bearer(token))
    assert demoted.status_code == 403
    assert demoted.json()["code"] == "insufficient_scope"
    assert (await second_client.get("/api/v1/me", headers=_bearer(token))).status_code == 200


@pytest.mark.asvs("V7.3.1")
async def test_an_expired_token_is_refused(
    second_client: httpx.AsyncClient,
    member_a: Person,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _id, token = await _make_token(database, member_a, ApiScope.PROFILE_READ, valid_days=1)
    assert (await second_client.get("/api/v1/me", headers=_bearer(token))).status_code == 200
    later = utcnow() + timedelta(days=1, seconds=1)
    monkeypatch.setattr(api_tokens, "utcnow", lambda: later)
    refused = await second_client.get("/api/v1/me", headers=_bearer(token))
    assert refused.status_code == 401
    assert refused.json()["code"] == "invalid_token"
    async with database.sessionmaker() as session:
        listed = await list_api_tokens(session, _actor(member_a))
    assert [summary.expired for summary in listed] == [True]


@pytest.mark.asvs("V7.4.1")
async def test_a_revoked_token_is_refused_at_once(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    member_a: Person,
    database: Database,
) -> None:
    token_id, token = await _make_token(database, member_a, ApiScope.PROFILE_READ)
    assert (await second_client.get("/api/v1/me", headers=_bearer(token))).status_code == 200
    await sign_in(client, member_a, database)
    assert (await client.delete(f"/api/v1/me/api-tokens/{token_id}")).status_code == 204
    refused = await second_client.get("/api/v1/me", headers=_bearer(token))
    assert refused.status_code == 401
    assert refused.json()["code"] == "invalid_token"
    assert (await client.get("/api/v1/me/api-tokens")).json() == []
    again = await client.delete(f"/api/v1/me/api-tokens/{token_id}")
    assert again.status_code == 404


@pytest.mark.asvs("V7.4.2")
async def test_suspending_the_owner_revokes_their_tokens(
    second_client: httpx.AsyncClient,
    admin_a: Person,
    member_a: Person,
    database: Database,
    test_keyring: MasterKeyring,
) -> None:
    token_id, token = await _make_token(database, member_a, ApiScope.PROFILE_READ)
    async with database.sessionmaker() as session:
        await suspend_user(session, test_keyring, _actor(admin_a), member_a.user_id)
        await session.commit()
    assert (await _token_row(database, token_id)).revoked_at is not None
    refused = await second_client.get("/api/v1/me", headers=_bearer(token))
    assert refused.status_code == 401


async def test_a_suspended_owner_s_token_is_refused_even_if_left_unrevoked(
    member_a: Person, database: Database
) -> None:
    _id, token = await _make_token(database, member_a, ApiScope.PROFILE_READ)
    async with database.sessionmaker() as session:
        user = await session.get(User, member_a.user_id)
        assert user is not None
        user.status = "suspended"  # as if a path other than suspend_user had set it
        assert await resolve_api_token(session, token) is None
        await session.rollback()


@pytest.mark.asvs("V7.2.1", "V11.5.1")
async def test_only_a_hash_is_stored_and_the_list_shows_the_prefix_never_the_token(
    client: httpx.AsyncClient, member_a: Person, database: Database
) -> None:
    token_id, token = await _make_token(database, member_a, ApiScope.PROFILE_READ)
    row = await _token_row(database, token_id)
    assert row.token_hash == hashlib.sha256(token.encode()).digest()
    assert row.token_hash != token.encode()
    secret = token[13:]
    for column in ApiToken.__table__.columns:
        value = getattr(row, column.key)
        assert secret not in str(value)
        assert token not in str(value)
    await sign_in(client, member_a, database)
    listed = await client.get("/api/v1/me/api-tokens")
    assert listed.status_code == 200
    assert token not in listed.text
    assert secret not in listed.text
    [entry] = listed.json()
    assert token.startswith(f"amn_{entry['prefix']}_")
    assert entry["name"] == "deploy script"
    assert entry["scopes"] == ["profile:read"]
    assert set(entry) == {
        "id",
        "name",
        "prefix",
        "scopes",
        "created_at",
        "expires_at",
        "last_used_at",
        "expired",
    }


@pytest.mark.asvs("V7.5.1", "V8.2.1")
async def test_a_token_cannot_change_credentials_sessions_or_tokens(
    second_client: httpx.AsyncClient, admin_a: Person, database: Database
) -> None:
    token_id, token = await _make_token(
        database, admin_a, ApiScope.PROFILE_READ, ApiScope.USERS_READ, ApiScope.USERS_WRITE
    )
    headers = _bearer(token)
    refused = [
        ("POST", "/api/v1/me/password", {"current_password": "x", "new_password": "y" * 20}),
        ("POST", "/api/v1/me/mfa/totp", None),
        ("POST", "/api/v1/me/mfa/totp/confirm", {"code": "123456"}),
        ("GET", "/api/v1/me/sessions", None),
        ("DELETE", "/api/v1/session", None),
        ("POST", "/api/v1/session/sign-out-everywhere", None),
        ("POST", "/api/v1/session/second-factor", {"code": "123456"}),
        ("GET", "/api/v1/me/api-tokens", None),
        ("POST", "/api/v1/me/api-tokens", {"name": "child", "scopes": ["profile:read"]}),
        ("DELETE", f"/api/v1/me/api-tokens/{token_id}", None),
        ("PUT", f"/api/v1/accounts/{admin_a.account_id}/settings", {"members_need_mfa": False}),
    ]
    for method, path, body in refused:
        response = await second_client.request(method, path, json=body, headers=headers)
        assert response.status_code == 403, (method, path, response.status_code)
        assert response.json()["code"] == "token_not_allowed", (method, path)
    assert len(await _live_tokens(database, admin_a)) == 1
    with pytest.raises(Forbidden):
        async with database.sessionmaker() as session:
            await create_api_token(
                session, _actor(admin_a, via="token"), name="child", scopes=["profile:read"]
            )


@pytest.mark.asvs("V8.2.1")
async def test_a_token_cannot_open_html_pages(
    second_client: httpx.AsyncClient, admin_a: Person, database: Database
) -> None:
    _id, token = await _make_token(database, admin_a, *ApiScope)
    for path in ("/account", "/account/api-tokens", "/admin/users", "/account/password"):
        page = await second_client.get(path, headers={**_bearer(token), "accept": "text/html"})
        assert page.status_code == 403, path
        assert admin_a.username not in page.text
    # A page open to everyone treats the token's bearer as a stranger.
    signin = await second_client.get("/signin", headers=_bearer(token))
    assert signin.status_code == 200
    assert admin_a.username not in signin.text


@pytest.mark.asvs("V3.5.1")
async def test_bearer_requests_need_no_csrf_token_but_cookies_still_do(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    admin_a: Person,
    member_a: Person,
    database: Database,
) -> None:
    _id, token = await _make_token(database, admin_a, ApiScope.USERS_WRITE)
    assert "x-csrf-token" not in second_client.headers
    suspended = await second_client.post(
        f"/api/v1/users/{member_a.user_id}/suspend", headers=_bearer(token)
    )
    assert suspended.status_code == 200, suspended.text
    assert suspended.json()["status"] == "suspended"
    # With a session cookie, the cookie decides and its CSRF check runs, bearer or not.
    await sign_in(client, admin_a, database)
    client.headers.pop("x-csrf-token")
    refused = await client.post(
        f"/api/v1/users/{member_a.user_id}/reactivate", headers=_bearer(token)
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == "csrf_failed"


async def test_malformed_and_unknown_tokens_are_refused(
    second_client: httpx.AsyncClient, member_a: Person, database: Database
) -> None:
    _id, token = await _make_token(database, member_a, ApiScope.PROFILE_READ)
    for value in ("", "amn_", token[:-1], token + "x", token.replace("amn_", "amx_"), "x" * 5000):
        response = await second_client.get("/api/v1/me", headers=_bearer(value))
        assert response.status_code == 401, value[:20]
        assert response.json()["code"] in ("invalid_token", "unauthenticated")
    basic = await second_client.get("/api/v1/me", headers={"authorization": "Basic Zm9vOmJhcg=="})
    assert basic.status_code == 401
    lowercase = await second_client.get("/api/v1/me", headers={"authorization": f"bearer {token}"})
    assert lowercase.status_code == 200


@pytest.mark.asvs("V8.2.2")
async def test_other_users_cannot_revoke_my_token(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    admin_a: Person,
    member_a: Person,
    admin_b: Person,
    database: Database,
) -> None:
    token_id, token = await _make_token(database, member_a, ApiScope.PROFILE_READ)
    await sign_in(client, admin_a, database)
    assert (await client.delete(f"/api/v1/me/api-tokens/{token_id}")).status_code == 404
    page = await client.post(f"/account/api-tokens/{token_id}/revoke")
    assert page.status_code == 404
    for person in (admin_b, admin_a):
        with pytest.raises(NotFound):
            async with database.sessionmaker() as session:
                await revoke_api_token(session, _actor(person), token_id)
    assert (await _token_row(database, token_id)).revoked_at is None
    assert (await second_client.get("/api/v1/me", headers=_bearer(token))).status_code == 200


@pytest.mark.asvs("V8.2.2", "V8.4.1")
async def test_a_token_of_account_a_cannot_reach_account_b(
    second_client: httpx.AsyncClient,
    admin_a: Person,
    admin_b: Person,
    member_b: Person,
    database: Database,
) -> None:
    _id, token = await _make_token(database, admin_a, ApiScope.USERS_READ, ApiScope.USERS_WRITE)
    headers = _bearer(token)
    listed = await second_client.get("/api/v1/users", headers=headers)
    assert {row["username"] for row in listed.json()} == {admin_a.username}
    for method, path in [
        ("GET", f"/api/v1/users/{member_b.user_id}"),
        ("GET", f"/api/v1/users/{admin_b.user_id}"),
        ("POST", f"/api/v1/users/{member_b.user_id}/suspend"),
        ("POST", f"/api/v1/users/{member_b.user_id}/reset-mfa"),
        ("DELETE", f"/api/v1/users/{member_b.user_id}"),
    ]:
        response = await second_client.request(method, path, headers=headers)
        assert response.status_code in (403, 404), (method, path)
        assert member_b.username not in response.text
    invite = await second_client.post(
        "/api/v1/users",
        headers=headers,
        json={
            "username": "planted-in-b",
            "full_name": "Planted User",
            "email": "planted@example.com",
            "account_id": admin_b.account_id,
        },
    )
    assert invite.status_code in (403, 404)
    assert (await load_user(database, member_b.user_id)).status == "active"


async def test_a_users_write_token_invites_a_user_like_its_owner_would(
    second_client: httpx.AsyncClient, admin_a: Person, database: Database
) -> None:
    _id, token = await _make_token(database, admin_a, ApiScope.USERS_WRITE, ApiScope.USERS_READ)
    invited = await second_client.post(
        "/api/v1/users",
        headers=_bearer(token),
        json={"username": "new-hire", "full_name": "New Hire", "email": "hire@example.com"},
    )
    assert invited.status_code == 201, invited.text
    assert invited.json()["account_id"] == admin_a.account_id


@pytest.mark.asvs("V2.2.1", "V2.1.3")
async def test_expiry_name_scopes_and_count_are_bounded(
    client: httpx.AsyncClient, member_a: Person, database: Database
) -> None:
    await sign_in(client, member_a, database)
    for body in (
        {"name": "x", "scopes": ["profile:read"], "valid_days": 0},
        {"name": "x", "scopes": ["profile:read"], "valid_days": 366},
        {"name": "x", "scopes": ["profile:read"], "valid_days": "30"},
        {"name": "x", "scopes": []},
        {"name": "x", "scopes": ["admin:everything"]},
        {"name": "", "scopes": ["profile:read"]},
        {"name": "x" * 101, "scopes": ["profile:read"]},
        {"name": "x", "scopes": ["profile:read"], "owner": "someone-else"},
    ):
        response = await client.post("/api/v1/me/api-tokens", json=body)
        assert response.status_code == 422, body
    for name, valid_days in (("  ", 30), ("bell\x07", 30), ("ok", 0), ("ok", 366)):
        with pytest.raises(InvalidInput):
            async with database.sessionmaker() as session:
                await create_api_token(
                    session,
                    _actor(member_a),
                    name=name,
                    scopes=["profile:read"],
                    valid_days=valid_days,
                )
    for number in range(MAX_LIVE_TOKENS_PER_USER):
        await _make_token(database, member_a, ApiScope.PROFILE_READ, name=f"token {number}")
    too_many = await client.post(
        "/api/v1/me/api-tokens", json={"name": "one more", "scopes": ["profile:read"]}
    )
    assert too_many.status_code == 409
    assert too_many.json()["code"] == "too_many_api_tokens"
    with pytest.raises(Conflict):
        await _make_token(database, member_a, ApiScope.PROFILE_READ)
    # Revoking one makes room again.
    first = (await client.get("/api/v1/me/api-tokens")).json()[0]["id"]
    assert (await client.delete(f"/api/v1/me/api-tokens/{first}")).status_code == 204
    await _make_token(database, member_a, ApiScope.PROFILE_READ)


async def test_the_operator_owns_no_tokens(database: Database) -> None:
    with pytest.raises(Forbidden):
        async with database.sessionmaker() as session:
            await create_api_token(session, OPERATOR, name="cli", scopes=["profile:read"])


async def test_last_use_is_recorded_at_most_once_a_minute(
    second_client: httpx.AsyncClient,
    member_a: Person,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token_id, token = await _make_token(database, member_a, ApiScope.PROFILE_READ)
    assert (await _token_row(database, token_id)).last_used_at is None
    start = utcnow()
    moments = iter([start, start + timedelta(seconds=30), start + timedelta(seconds=61)])
    now = next(moments)
    monkeypatch.setattr(api_tokens, "utcnow", lambda: now)
    seen = []
    for _ in range(3):
        assert (await second_client.get("/api/v1/me", headers=_bearer(token))).status_code == 200
        seen.append((await _token_row(database, token_id)).last_used_at)
        now = next(moments, now)
    assert seen == [start, start, start + timedelta(seconds=61)]


@pytest.mark.asvs("V16.2.5")
async def test_making_and_revoking_are_audited_without_the_secret(
    client: httpx.AsyncClient, member_a: Person, database: Database
) -> None:
    await sign_in(client, member_a, database)
    made = await client.post(
        "/api/v1/me/api-tokens", json={"name": "ci", "scopes": ["profile:read"], "valid_days": 7}
    )
    token_id, token = made.json()["id"], made.json()["token"]
    assert (await client.delete(f"/api/v1/me/api-tokens/{token_id}")).status_code == 204
    async with database.sessionmaker() as session:
        records = list(
            await session.scalars(
                select(AuditRecord)
                .where(AuditRecord.target_id == token_id)
                .order_by(AuditRecord.seq)
            )
        )
    assert [record.action for record in records] == ["api_token.create", "api_token.revoke"]
    assert all(record.actor_id == member_a.user_id for record in records)
    assert '"valid_days":7' in records[0].details
    secret = token[13:]
    assert all(secret not in record.details for record in records)


@pytest.mark.asvs("V3.5.1", "V14.2.1")
async def test_the_page_shows_a_new_token_once_and_revokes_with_a_csrf_token(
    client: httpx.AsyncClient, member_a: Person, database: Database
) -> None:
    csrf = await sign_in(client, member_a, database)
    client.headers.pop("x-csrf-token")
    page = await client.get("/account/api-tokens")
    assert page.status_code == 200
    assert "No tokens yet." in page.text
    assert 'value="users:write"' not in page.text  # a member is not offered what they lack
    forged = await client.post(
        "/account/api-tokens", data={"name": "laptop", "scopes": "profile:read"}
    )
    assert forged.status_code == 403
    made = await client.post(
        "/account/api-tokens",
        data={"csrf_token": csrf, "name": "laptop", "scopes": ["profile:read"], "valid_days": "30"},
    )
    # POST/redirect/GET: the secret is in neither the redirect nor a cookie, and shown once.
    assert made.status_code == 303
    assert made.headers["location"] == "/account/api-tokens"
    assert TOKEN_SHAPE.search(made.headers["location"] + str(made.headers)) is None
    shown = await client.get("/account/api-tokens")
    found = TOKEN_SHAPE.search(shown.text)
    assert found is not None
    token = found.group(0)
    assert "Token “laptop” made. Copy it now: it is shown this once." in shown.text
    again = await client.get("/account/api-tokens")
    assert token not in again.text
    assert f"amn_{found.group(1)}_" in again.text
    assert "laptop" in again.text
    refused = await client.post(
        "/account/api-tokens",
        data={"csrf_token": csrf, "name": "admin", "scopes": ["users:write"], "valid_days": "30"},
    )
    assert refused.status_code == 403
    [row] = await _live_tokens(database, member_a)
    assert f'href="/account/api-tokens/{row.id}/revoke"' in again.text
    unconfirmed = await client.post(
        f"/account/api-tokens/{row.id}/revoke", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert unconfirmed.status_code == 422  # confirmation_required
    assert len(await _live_tokens(database, member_a)) == 1
    confirm = await client.get(f"/account/api-tokens/{row.id}/revoke")
    assert "Revoke an API token" in confirm.text
    revoked = await client.post(
        f"/account/api-tokens/{row.id}/revoke",
        data={"csrf_token": csrf, "confirmed": "yes"},
        follow_redirects=False,
    )
    assert revoked.status_code == 303
    assert await _live_tokens(database, member_a) == []
    assert "Token “laptop” revoked." in (await client.get("/account/api-tokens")).text


async def _live_tokens(database: Database, person: Person) -> list[ApiToken]:
    async with database.sessionmaker() as session:
        rows = await session.scalars(
            select(ApiToken).where(
                ApiToken.user_id == person.user_id, ApiToken.revoked_at.is_(None)
            )
        )
        return list(rows)
