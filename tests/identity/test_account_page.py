"""A platform admin's page for one customer account: owner, users, pending invitations, status;
suspension only after a confirmation page that says what happens, and a message after each
action. The same summary over JSON."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from amanat.access.actors import OPERATOR
from amanat.access.roles import Role
from amanat.audit.models import AuditRecord
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.settings import Settings
from amanat.identity.accounts import platform_account
from amanat.identity.invitations import invite_user
from amanat.identity.models import CustomerAccount
from amanat.people.masking import mask_email
from tests.support.identity import Person, make_user, sign_in

pytestmark = pytest.mark.policy("§2 manage the respective customer account")


@pytest.fixture
async def platform_admin(
    database: Database, test_keyring: MasterKeyring, settings: Settings
) -> Person:
    return await make_user(
        database, test_keyring, settings, account_id=None, username="root", role=Role.PLATFORM_ADMIN
    )


@pytest.fixture
async def owner_a(
    database: Database, test_keyring: MasterKeyring, settings: Settings, account_a: str
) -> Person:
    return await make_user(
        database,
        test_keyring,
        settings,
        account_id=account_a,
        username="owner-a",
        role=Role.OWNER,
        email="hina.owner@gmail.com",
    )


async def _invite(
    database: Database, ring: MasterKeyring, settings: Settings, account_id: str
) -> None:
    async with database.sessionmaker() as session:
        await invite_user(
            session,
            ring,
            settings,
            OPERATOR,
            account_id=account_id,
            username="newcomer",
            full_name="Nadia Newcomer",
            email="nadia@example.org",
            role=Role.MEMBER,
        )
        await session.commit()


async def _status(database: Database, account_id: str) -> str:
    async with database.sessionmaker() as session:
        row = await session.get(CustomerAccount, account_id)
        assert row is not None
        return row.status


async def _audit_count(database: Database) -> int:
    async with database.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(AuditRecord)) or 0)


async def test_the_account_page_shows_owner_users_and_invitations_in_words(
    client: httpx.AsyncClient,
    platform_admin: Person,
    owner_a: Person,
    member_a: Person,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
) -> None:
    await _invite(database, test_keyring, settings, owner_a.account_id)
    await sign_in(client, platform_admin, database)
    listing = await client.get("/admin/accounts")
    assert f'href="/admin/accounts/{owner_a.account_id}"' in listing.text
    page = await client.get(f"/admin/accounts/{owner_a.account_id}")
    assert page.status_code == 200
    assert '<h1 dir="auto">Acme Cloud Traders</h1>' in page.text
    assert '<span dir="auto">owner-a</span>' in page.text
    assert mask_email("hina.owner@gmail.com") in page.text
    assert "hina.owner@gmail.com" not in page.text
    assert "Users (3)" in page.text
    assert "<td>Owner</td>" in page.text
    assert "<td>Member</td>" in page.text
    assert "Pending invitations (1)" in page.text
    assert '<td dir="auto">newcomer</td>' in page.text
    assert "<time datetime=" in page.text
    summary = await client.get(f"/api/v1/accounts/{owner_a.account_id}")
    assert summary.status_code == 200
    body = summary.json()
    assert body["owner"]["username"] == "owner-a"
    assert body["owner"]["masked_email"] == mask_email("hina.owner@gmail.com")
    assert body["user_count"] == 3
    assert [row["user"]["username"] for row in body["invitations"]] == ["newcomer"]
    assert body["invitations"][0]["expired"] is False


async def test_suspending_goes_through_a_confirmation_page_and_says_what_happened(
    client: httpx.AsyncClient, platform_admin: Person, member_a: Person, database: Database
) -> None:
    csrf = await sign_in(client, platform_admin, database)
    account = member_a.account_id
    confirm = await client.get(f"/admin/accounts/{account}/suspend")
    assert confirm.status_code == 200
    assert "Sign out every one of its" in confirm.text
    assert "Mail every active user, the owner included" in confirm.text
    assert '<option value="" selected disabled>Choose a reason</option>' in confirm.text
    assert 'name="confirmed" value="yes"' in confirm.text
    before = await _audit_count(database)
    bare = await client.post(
        f"/admin/accounts/{account}/suspend", data={"csrf_token": csrf, "reason": "abuse"}
    )
    assert 400 <= bare.status_code < 500
    assert "Confirm this action on its confirmation page first." in bare.text
    assert await _status(database, account) == "active"
    assert await _audit_count(database) == before
    done = await client.post(
        f"/admin/accounts/{account}/suspend",
        data={"csrf_token": csrf, "reason": "abuse", "confirmed": "yes"},
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/admin/accounts/{account}"
    shown = await client.get(done.headers["location"])
    assert "Account suspended: Acme Cloud Traders." in shown.text
    assert 'href="/admin/accounts/' + account + '/suspend"' not in shown.text
    assert '<option value="" selected disabled>Choose a reason</option>' in shown.text
    after = await _audit_count(database)
    reload = await client.get(done.headers["location"])
    assert "Account suspended" not in reload.text
    assert await _audit_count(database) == after
    again = await client.get(f"/admin/accounts/{account}/suspend")
    assert again.status_code == 303  # already suspended: nothing to confirm
    back = await client.post(
        f"/admin/accounts/{account}/reactivate",
        data={"csrf_token": csrf, "reason": "issue_resolved"},
    )
    assert back.status_code == 303
    assert "Account reactivated" in (await client.get(back.headers["location"])).text
    assert await _status(database, account) == "active"


async def test_only_platform_admins_see_an_account_and_only_customer_accounts(
    client: httpx.AsyncClient, admin_a: Person, platform_admin: Person, database: Database
) -> None:
    await sign_in(client, admin_a, database)
    assert (await client.get(f"/admin/accounts/{admin_a.account_id}")).status_code == 403
    assert (await client.get(f"/api/v1/accounts/{admin_a.account_id}")).status_code == 403
    assert (await client.get(f"/admin/accounts/{admin_a.account_id}/suspend")).status_code == 403
    client.cookies.clear()
    await sign_in(client, platform_admin, database)
    async with database.sessionmaker() as session:
        platform_id = (await platform_account(session)).id
    for account_id in (platform_id, "no-such-account"):
        missing = await client.get(f"/api/v1/accounts/{account_id}")
        assert missing.status_code == 404
        assert missing.json()["code"] == "account_not_found"
        assert (await client.get(f"/admin/accounts/{account_id}")).status_code == 404
