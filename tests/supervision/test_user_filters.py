"""Admins narrow their list of users by role, status and the beginning of the username, through
the service, the JSON API and the users page alike."""

from __future__ import annotations

import re

import httpx
import pytest

from amanat.access.actors import OPERATOR, Actor
from amanat.access.roles import Role
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.settings import Settings
from amanat.identity.user_management import suspend_user
from amanat.identity.users import list_users
from tests.support.identity import Person, make_user, sign_in

pytestmark = pytest.mark.policy("§4 access controls: admin create users and supervise them")


@pytest.fixture
async def owner_a(
    database: Database, test_keyring: MasterKeyring, settings: Settings, account_a: str
) -> Person:
    return await make_user(
        database, test_keyring, settings, account_id=account_a, username="owner-a", role=Role.OWNER
    )


@pytest.fixture
async def second_member_a(
    database: Database, test_keyring: MasterKeyring, settings: Settings, account_a: str
) -> Person:
    person = await make_user(
        database, test_keyring, settings, account_id=account_a, username="member-two"
    )
    async with database.sessionmaker() as session:
        await suspend_user(session, test_keyring, OPERATOR, person.user_id)
        await session.commit()
    return person


def _listed_usernames(html: str) -> set[str]:
    return set(re.findall(r'<a href="/admin/users/[^"]+">([^<]+)</a>', html))


async def test_the_service_filters_by_role_with_status_and_username(
    database: Database,
    test_keyring: MasterKeyring,
    admin_a: Person,
    member_a: Person,
    owner_a: Person,
    second_member_a: Person,
    member_b: Person,
) -> None:
    actor = Actor(admin_a.user_id, admin_a.account_id, admin_a.role)
    async with database.sessionmaker() as session:

        async def names(**filters: object) -> set[str]:
            rows = await list_users(session, test_keyring, actor, **filters)  # type: ignore[arg-type]
            return {row.username for row in rows}

        assert await names(role=Role.MEMBER) == {member_a.username, second_member_a.username}
        assert await names(role=Role.OWNER) == {owner_a.username}
        assert await names(role=Role.MEMBER, status="suspended") == {second_member_a.username}
        assert await names(role=Role.MEMBER, username_prefix="member-t") == {"member-two"}
        assert await names(role=Role.SUPPORT_AGENT) == set()
        everyone = {admin_a.username, member_a.username, owner_a.username, "member-two"}
        assert await names() == everyone


async def test_the_api_filters_by_role_and_refuses_an_unknown_role(
    client: httpx.AsyncClient,
    admin_a: Person,
    member_a: Person,
    owner_a: Person,
    second_member_a: Person,
    member_b: Person,
    database: Database,
) -> None:
    await sign_in(client, admin_a, database)
    members = await client.get("/api/v1/users", params={"role": "member"})
    assert members.status_code == 200
    assert {row["username"] for row in members.json()} == {member_a.username, "member-two"}
    assert {row["role"] for row in members.json()} == {"member"}
    owners = await client.get("/api/v1/users", params={"role": "owner"})
    assert [row["username"] for row in owners.json()] == [owner_a.username]
    both = await client.get("/api/v1/users", params={"role": "member", "status": "active"})
    assert [row["username"] for row in both.json()] == [member_a.username]
    prefixed = await client.get("/api/v1/users", params={"role": "admin", "username": "adm"})
    assert [row["username"] for row in prefixed.json()] == [admin_a.username]
    unknown = await client.get("/api/v1/users", params={"role": "superuser"})
    assert unknown.status_code == 422
    assert unknown.headers["content-type"].startswith("application/problem+json")


async def test_the_users_page_filters_by_role(
    client: httpx.AsyncClient,
    admin_a: Person,
    member_a: Person,
    owner_a: Person,
    second_member_a: Person,
    database: Database,
) -> None:
    await sign_in(client, admin_a, database)
    page = await client.get("/admin/users", params={"role": "member"})
    assert page.status_code == 200
    assert _listed_usernames(page.text) == {member_a.username, "member-two"}
    assert '<option value="member" selected>' in page.text
    # The choices are the roles of a customer account, not staff roles.
    assert '<option value="owner"' in page.text
    assert '<option value="platform_admin"' not in page.text
    suspended_members = await client.get(
        "/admin/users", params={"role": "member", "status": "suspended"}
    )
    assert _listed_usernames(suspended_members.text) == {"member-two"}
    # A role that is not one of the choices filters nothing.
    unfiltered = await client.get("/admin/users", params={"role": "superuser"})
    assert unfiltered.status_code == 200
    assert _listed_usernames(unfiltered.text) == {
        admin_a.username,
        member_a.username,
        owner_a.username,
        "member-two",
    }
