"""Admins supervise their own users: list, suspend, reactivate, end sessions, force a password
change, reset MFA, remove. Every action is audited (policy §4 "Admin ... supervise them")."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from amanat.access.actors import Actor
from amanat.access.roles import Role
from amanat.audit.models import AuditRecord
from amanat.audit.reading import list_records
from amanat.core.clock import utcnow
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.errors import Forbidden
from amanat.core.settings import Settings
from amanat.identity.models import SigninThrottle
from amanat.identity.user_management import change_role
from tests.support.identity import Person, load_user, make_user, sign_in

pytestmark = pytest.mark.policy("§4 access controls: admin create users and supervise them")


async def _actions(database: Database, user_id: str) -> list[str]:
    async with database.sessionmaker() as session:
        rows = await session.scalars(
            select(AuditRecord.action)
            .where(AuditRecord.target_id == user_id)
            .order_by(AuditRecord.seq)
        )
        return list(rows)


async def test_admin_lists_own_users_masked(
    client: httpx.AsyncClient,
    admin_a: Person,
    member_a: Person,
    member_b: Person,
    database: Database,
) -> None:
    await sign_in(client, admin_a, database)
    response = await client.get("/api/v1/users")
    assert response.status_code == 200
    listed = {row["username"]: row for row in response.json()}
    assert set(listed) == {admin_a.username, member_a.username}
    assert listed[member_a.username]["email"] == "m***@example.com"
    assert member_a.email not in response.text
    only_active = await client.get("/api/v1/users", params={"status": "suspended"})
    assert only_active.json() == []
    by_prefix = await client.get("/api/v1/users", params={"username": "memb"})
    assert [row["username"] for row in by_prefix.json()] == [member_a.username]


@pytest.mark.asvs("V7.4.2", "V7.4.5")
async def test_suspension_kills_the_users_open_session_at_once(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    admin_a: Person,
    member_a: Person,
    database: Database,
) -> None:
    await sign_in(second_client, member_a, database)
    assert (await second_client.get("/api/v1/me")).status_code == 200
    await sign_in(client, admin_a, database)
    suspended = await client.post(f"/api/v1/users/{member_a.user_id}/suspend")
    assert suspended.status_code == 200
    assert suspended.json()["status"] == "suspended"
    assert (await second_client.get("/api/v1/me")).status_code == 401
    back = await second_client.post(
        "/api/v1/session", json={"login": member_a.username, "password": member_a.password}
    )
    assert back.status_code == 401
    reactivated = await client.post(f"/api/v1/users/{member_a.user_id}/reactivate")
    assert reactivated.json()["status"] == "active"
    assert await _actions(database, member_a.user_id) == [
        "user.invite",
        "user.invite_accept",
        "user.mfa_enable",
        "signin.password",
        "signin.second_factor",
        "user.suspend",
        "user.reactivate",
    ]


async def test_revoke_sessions_and_force_password_change(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    admin_a: Person,
    member_a: Person,
    database: Database,
) -> None:
    await sign_in(second_client, member_a, database)
    await sign_in(client, admin_a, database)
    revoked = await client.post(f"/api/v1/users/{member_a.user_id}/revoke-sessions")
    assert revoked.json() == {"count": 1}
    assert (await second_client.get("/api/v1/me")).status_code == 401
    forced = await client.post(f"/api/v1/users/{member_a.user_id}/force-password-change")
    assert forced.status_code == 200
    await sign_in(second_client, member_a, database)
    blocked = await second_client.get("/api/v1/me/sessions")
    assert blocked.status_code == 403
    assert blocked.json()["code"] == "password_change_required"
    changed = await second_client.post(
        "/api/v1/me/password",
        json={
            "current_password": member_a.password,
            "new_password": "violet tundra lantern mosaic quill",
        },
    )
    assert changed.status_code == 200, changed.text
    assert (await second_client.get("/api/v1/me/sessions")).status_code == 200


@pytest.mark.asvs("V6.4.3", "V6.4.4")
async def test_mfa_reset_makes_the_user_enrol_again(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    admin_a: Person,
    member_a: Person,
    database: Database,
) -> None:
    await sign_in(client, admin_a, database)
    assert (await client.post(f"/api/v1/users/{member_a.user_id}/reset-mfa")).status_code == 200
    user = await load_user(database, member_a.user_id)
    assert user.mfa_enabled_at is None
    assert user.totp_secret is None
    signed = await second_client.post(
        "/api/v1/session", json={"login": member_a.username, "password": member_a.password}
    )
    assert signed.json()["needs_second_factor"] is False
    assert signed.json()["needs_mfa_enrolment"] is True
    assert "user.mfa_reset" in await _actions(database, member_a.user_id)


async def test_removed_user_is_gone_and_their_personal_data_shredded(
    client: httpx.AsyncClient, admin_a: Person, member_a: Person, database: Database
) -> None:
    await sign_in(client, admin_a, database)
    assert (await client.delete(f"/api/v1/users/{member_a.user_id}")).status_code == 204
    assert (await client.get(f"/api/v1/users/{member_a.user_id}")).status_code == 404
    user = await load_user(database, member_a.user_id)
    assert user.status == "erased"
    assert user.person_id is None
    assert user.password_hash is None
    listed = await client.get("/api/v1/users")
    assert member_a.username not in listed.text


async def test_an_admin_cannot_suspend_themself(
    client: httpx.AsyncClient, admin_a: Person, database: Database
) -> None:
    await sign_in(client, admin_a, database)
    response = await client.post(f"/api/v1/users/{admin_a.user_id}/suspend")
    assert response.status_code == 422
    assert response.json()["code"] == "not_on_self"


@pytest.mark.asvs("V8.2.1")
async def test_a_member_cannot_supervise(
    client: httpx.AsyncClient, member_a: Person, admin_a: Person, database: Database
) -> None:
    await sign_in(client, member_a, database)
    assert (await client.get("/api/v1/users")).status_code == 403
    assert (await client.post(f"/api/v1/users/{admin_a.user_id}/suspend")).status_code == 403


async def test_account_admin_turns_member_mfa_off_and_on(
    client: httpx.AsyncClient, admin_a: Person, database: Database
) -> None:
    await sign_in(client, admin_a, database)
    off = await client.put(
        f"/api/v1/accounts/{admin_a.account_id}/settings", json={"members_need_mfa": False}
    )
    assert off.status_code == 200
    assert off.json()["members_need_mfa"] is False


@pytest.mark.asvs("V7.2.4", "V8.2.1")
async def test_role_change_ends_the_users_sessions_and_respects_who_may_grant(
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    account_a: str,
    second_client: httpx.AsyncClient,
    member_a: Person,
    admin_a: Person,
) -> None:
    owner = await make_user(
        database, test_keyring, settings, account_id=account_a, username="owner-a", role=Role.OWNER
    )
    await sign_in(second_client, member_a, database)
    async with database.sessionmaker() as session:
        admin_actor = Actor(admin_a.user_id, account_a, Role.ADMIN)
        with pytest.raises(Forbidden):
            await change_role(session, admin_actor, member_a.user_id, Role.ADMIN)
        owner_actor = Actor(owner.user_id, account_a, Role.OWNER)
        promoted = await change_role(session, owner_actor, member_a.user_id, Role.ADMIN)
        assert promoted.role == Role.ADMIN
        with pytest.raises(Forbidden):
            await change_role(session, owner_actor, member_a.user_id, Role.PLATFORM_ADMIN)
        await session.commit()
    assert (await second_client.get("/api/v1/me")).status_code == 401


async def test_owner_promotes_a_member_through_the_api_and_an_admin_unlocks(
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    account_a: str,
    client: httpx.AsyncClient,
    member_a: Person,
) -> None:
    owner = await make_user(
        database, test_keyring, settings, account_id=account_a, username="owner-b2", role=Role.OWNER
    )
    await sign_in(client, owner, database)
    promoted = await client.put(f"/api/v1/users/{member_a.user_id}/role", json={"role": "admin"})
    assert promoted.status_code == 200
    assert promoted.json()["role"] == "admin"
    staff = await client.put(
        f"/api/v1/users/{member_a.user_id}/role", json={"role": "platform_admin"}
    )
    assert staff.status_code == 403
    unlocked = await client.post(f"/api/v1/users/{member_a.user_id}/unlock")
    assert unlocked.status_code == 200
    assert "user.unlock" in await _actions(database, member_a.user_id)


async def _audited(database: Database, account_id: str, action: str) -> list[AuditRecord]:
    async with database.sessionmaker() as session:
        records = await list_records(session, account_id=account_id, limit=500)
    return [record for record in records if record.action == action]


@pytest.mark.asvs("V16.2.1", "V16.3.1")
async def test_supervision_actions_are_audited_with_who_did_what_to_whom(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    admin_a: Person,
    member_a: Person,
    database: Database,
) -> None:
    await sign_in(second_client, member_a, database)
    await sign_in(client, admin_a, database)
    started = utcnow()
    assert (await client.post(f"/api/v1/users/{member_a.user_id}/revoke-sessions")).json() == {
        "count": 1
    }
    forced = await client.post(f"/api/v1/users/{member_a.user_id}/force-password-change")
    assert forced.status_code == 200
    policy = await client.put(
        f"/api/v1/accounts/{admin_a.account_id}/settings", json={"members_need_mfa": False}
    )
    assert policy.status_code == 200
    assert (await client.delete(f"/api/v1/users/{member_a.user_id}")).status_code == 204

    expected = {
        "user.sessions_revoke": ("user", member_a.user_id, {"sessions_ended": 1}),
        "user.force_password_change": ("user", member_a.user_id, {}),
        "account.mfa_policy": ("account", admin_a.account_id, {"members_need_mfa": False}),
        "user.remove": ("user", member_a.user_id, {}),
    }
    for action, (target_type, target_id, details) in expected.items():
        records = await _audited(database, admin_a.account_id, action)
        assert len(records) == 1, action
        record = records[0]
        assert (record.actor_id, record.actor_role) == (admin_a.user_id, "admin"), action
        assert (record.target_type, record.target_id) == (target_type, target_id), action
        assert json.loads(record.details) == details, action  # ids and codes, nothing personal
        assert record.at >= started - timedelta(seconds=1), action


async def test_an_admin_lifts_a_sign_in_lock_from_the_user_page(
    client: httpx.AsyncClient,
    new_client: Callable[..., httpx.AsyncClient],
    admin_a: Person,
    member_a: Person,
    database: Database,
    settings: Settings,
) -> None:
    async with new_client("198.51.100.60") as guesser:
        for _ in range(settings.signin_lock_failures):
            async with database.sessionmaker() as session:
                for row in (await session.scalars(select(SigninThrottle))).all():
                    row.locked_until = None  # time passes between guesses; the count stays
                await session.commit()
            await guesser.post(
                "/api/v1/session", json={"login": member_a.username, "password": "wrong " * 4}
            )
        locked = await guesser.post(
            "/api/v1/session", json={"login": member_a.username, "password": member_a.password}
        )
        assert locked.status_code == 429
    csrf = await sign_in(client, admin_a, database)
    page = await client.get(f"/admin/users/{member_a.user_id}")
    assert f'action="/admin/users/{member_a.user_id}/unlock"' in page.text
    lifted = await client.post(
        f"/admin/users/{member_a.user_id}/unlock",
        data={"csrf_token": csrf},
        headers={"x-csrf-token": ""},
    )
    assert lifted.status_code == 303
    async with new_client("198.51.100.61") as own:
        back = await own.post(
            "/api/v1/session", json={"login": member_a.username, "password": member_a.password}
        )
    assert back.status_code == 200
    assert "user.unlock" in await _actions(database, member_a.user_id)


@pytest.mark.parametrize("action", ["force-password-change", "revoke-sessions"])
async def test_an_admin_cannot_force_a_change_or_end_all_sessions_on_themself(
    client: httpx.AsyncClient, admin_a: Person, database: Database, action: str
) -> None:
    await sign_in(client, admin_a, database)
    response = await client.post(f"/api/v1/users/{admin_a.user_id}/{action}")
    assert response.status_code == 422
    assert response.json()["code"] == "not_on_self"
    # Nothing happened: the admin is still signed in and need not change their password.
    me = await client.get("/api/v1/me")
    assert me.status_code == 200
    user = await load_user(database, admin_a.user_id)
    assert user.must_change_password is False
