"""The organisation settings page and API: an account's owner and admins name the organisation,
require a second factor of every member, and shorten how long a sign-in lasts; each change is
audited, and the account's members are held to it at their next sign-in."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from amanat.audit.reading import list_records
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.settings import Settings
from amanat.identity.models import CustomerAccount, UserSession
from tests.support.identity import Person, make_user, sign_in

pytestmark = pytest.mark.policy("§4 access controls")


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


async def _actions(database: Database, account_id: str) -> list[str]:
    async with database.sessionmaker() as session:
        return [r.action for r in await list_records(session, account_id=account_id, limit=500)]


async def _account(database: Database, account_id: str) -> CustomerAccount:
    async with database.sessionmaker() as session:
        row = await session.get(CustomerAccount, account_id)
        assert row is not None
        return row


async def test_an_admin_saves_the_settings_page_and_is_told_what_changed(
    client: httpx.AsyncClient, admin_a: Person, database: Database
) -> None:
    await sign_in(client, admin_a, database)
    page = await client.get("/admin/settings")
    assert page.status_code == 200
    assert 'name="name" dir="auto" value="Acme Cloud Traders"' in page.text
    assert 'name="members_need_mfa" value="yes" checked' in page.text
    form = {"csrf_token": _csrf(page.text), "name": "  Acme   Traders ", "session_hours": "4"}
    saved = await client.post("/admin/settings", data=form)  # the box unticked: members off
    assert saved.status_code == 303
    assert saved.headers["location"] == "/admin/settings"
    account = await _account(database, admin_a.account_id)
    assert (account.name, account.members_need_mfa, account.session_hours) == (
        "Acme Traders",
        False,
        4,
    )
    shown = await client.get("/admin/settings")
    assert (
        "Settings saved: organisation name, second factor for members, sign-in length."
        in shown.text
    )
    assert 'name="members_need_mfa" value="yes">' in shown.text
    recorded = await _actions(database, admin_a.account_id)
    assert recorded.count("account.settings_change") == 1
    # A reload of the page the redirect led to changes and records nothing.
    again = await client.get("/admin/settings")
    assert "Settings saved" not in again.text
    assert await _actions(database, admin_a.account_id) == recorded


async def test_bad_settings_show_the_form_again_with_the_fields_message(
    client: httpx.AsyncClient, admin_a: Person, database: Database, settings: Settings
) -> None:
    csrf = await sign_in(client, admin_a, database)
    too_long = await client.post(
        "/admin/settings",
        data={"csrf_token": csrf, "name": "Acme", "session_hours": "99", "members_need_mfa": "yes"},
    )
    assert too_long.status_code == 422
    assert f"from 1 to {settings.session_absolute_hours} hours" in too_long.text
    assert 'id="session_hours-error"' in too_long.text
    not_a_number = await client.post(
        "/admin/settings", data={"csrf_token": csrf, "name": "Acme", "session_hours": "two"}
    )
    assert not_a_number.status_code == 422
    assert "whole number of hours" in not_a_number.text
    blank = await client.post("/admin/settings", data={"csrf_token": csrf, "name": "   "})
    assert blank.status_code == 422
    assert 'id="name-error"' in blank.text
    account = await _account(database, admin_a.account_id)
    assert (account.name, account.session_hours) == ("Acme Cloud Traders", None)
    assert "account.settings_change" not in await _actions(database, admin_a.account_id)


async def test_members_and_platform_staff_have_no_settings_page(
    client: httpx.AsyncClient, member_a: Person, database: Database
) -> None:
    await sign_in(client, member_a, database)
    assert (await client.get("/admin/settings")).status_code == 403
    assert (await client.get("/api/v1/account/settings")).status_code == 403
    refused = await client.patch("/api/v1/account/settings", json={"members_need_mfa": False})
    assert refused.status_code == 403
    assert (await _account(database, member_a.account_id)).members_need_mfa is True


async def test_the_settings_api_changes_only_what_is_given(
    client: httpx.AsyncClient, admin_a: Person, admin_b: Person, database: Database
) -> None:
    await sign_in(client, admin_a, database)
    read = await client.get("/api/v1/account/settings")
    assert read.status_code == 200
    assert read.json()["members_need_mfa"] is True
    assert read.json()["session_hours"] is None
    changed = await client.patch("/api/v1/account/settings", json={"session_hours": 3})
    assert changed.status_code == 200
    assert changed.json()["name"] == "Acme Cloud Traders"
    assert changed.json()["effective_session_hours"] == 3
    back = await client.patch("/api/v1/account/settings", json={"session_hours": None})
    assert back.json()["session_hours"] is None
    bad = await client.patch("/api/v1/account/settings", json={"session_hours": 0})
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    unknown = await client.patch("/api/v1/account/settings", json={"account_id": "x"})
    assert unknown.status_code == 422
    # Only the admin's own account: B's is untouched whatever A does.
    assert (await _account(database, admin_b.account_id)).session_hours is None


async def test_members_of_an_account_requiring_a_second_factor_are_sent_to_enrol(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    admin_b: Person,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    account_a: str,
) -> None:
    await sign_in(second_client, admin_b, database)
    off = await second_client.patch("/api/v1/account/settings", json={"members_need_mfa": False})
    assert off.status_code == 200
    strict = await make_user(
        database, test_keyring, settings, account_id=account_a, username="strict-m", mfa=False
    )
    relaxed = await make_user(
        database,
        test_keyring,
        settings,
        account_id=admin_b.account_id,
        username="relaxed-m",
        mfa=False,
    )
    for person, enrolment in ((strict, True), (relaxed, False)):
        client.cookies.clear()
        form = await client.get("/signin")
        done = await client.post(
            "/signin",
            data={
                "csrf_token": _csrf(form.text),
                "login": person.username,
                "password": person.password,
            },
        )
        assert done.status_code == 303
        assert (done.headers["location"] == "/account/mfa") is enrolment, person.username


async def test_a_sign_in_lasts_no_longer_than_the_account_allows(
    client: httpx.AsyncClient, admin_a: Person, member_a: Person, database: Database
) -> None:
    await sign_in(client, admin_a, database)
    await client.patch("/api/v1/account/settings", json={"session_hours": 2})
    client.cookies.clear()
    await sign_in(client, member_a, database)
    async with database.sessionmaker() as session:
        rows = (
            await session.scalars(
                select(UserSession).where(UserSession.user_id == member_a.user_id)
            )
        ).all()
    assert rows
    for row in rows:
        assert row.expires_at - row.created_at == timedelta(hours=2)
