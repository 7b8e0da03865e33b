"""The audit log page and API: account owners and admins read their own account's events only,
whatever filter they craft; privacy officers and platform admins read every account's. Filters
(actor, action, target, dates) are checked: a bad date is a field's message, never a 500."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from amanat.access.roles import Role
from amanat.core.clock import utcnow
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.settings import Settings
from amanat.web.localtime import zone_named
from tests.support.identity import Person, make_user, sign_in

pytestmark = [pytest.mark.policy("§4 access controls")]


async def _settings_changed_by(client: httpx.AsyncClient, admin: Person, db: Database) -> None:
    await sign_in(client, admin, db)
    changed = await client.patch("/api/v1/account/settings", json={"session_hours": 5})
    assert changed.status_code == 200
    client.cookies.clear()


@pytest.fixture
async def two_accounts_busy(
    client: httpx.AsyncClient,
    admin_a: Person,
    member_a: Person,
    admin_b: Person,
    member_b: Person,
    database: Database,
) -> None:
    await _settings_changed_by(client, admin_a, database)
    await _settings_changed_by(client, admin_b, database)


async def _events(client: httpx.AsyncClient, **query: str) -> list[dict[str, object]]:
    response = await client.get("/api/v1/audit/events", params=query)
    assert response.status_code == 200, response.text
    events: list[dict[str, object]] = response.json()["events"]
    return events


@pytest.mark.usefixtures("two_accounts_busy")
async def test_an_account_admin_reads_only_their_accounts_events_even_by_crafted_filter(
    client: httpx.AsyncClient,
    admin_a: Person,
    admin_b: Person,
    member_b: Person,
    database: Database,
) -> None:
    await sign_in(client, admin_a, database)
    own = await _events(client)
    assert own
    assert {event["account_id"] for event in own} == {admin_a.account_id}
    assert "account.settings_change" in {event["action"] for event in own}
    crafted = [
        {"account": admin_b.account_id},
        {"actor": admin_b.username},
        {"target": member_b.user_id},
        {"target": member_b.username},
        {"target": admin_b.account_id},
        {"account": admin_b.account_id, "action": "account.settings_change"},
    ]
    for query in crafted:
        for event in await _events(client, **query):
            assert event["account_id"] == admin_a.account_id, query
    page = await client.get("/admin/audit", params={"account": admin_b.account_id})
    assert page.status_code == 200
    assert admin_b.username not in page.text
    assert member_b.username not in page.text
    assert 'name="account"' not in page.text  # no account filter for an account's admin


@pytest.mark.usefixtures("two_accounts_busy")
async def test_the_page_shows_events_in_words_with_usernames(
    client: httpx.AsyncClient, admin_a: Person, member_a: Person, database: Database
) -> None:
    await sign_in(client, admin_a, database)
    page = await client.get("/admin/audit")
    assert page.status_code == 200
    assert "Organisation settings changed" in page.text
    assert "User invited" in page.text
    assert '<span dir="auto">admin-a</span>' in page.text
    assert '<span dir="auto">member-a</span>' in page.text
    assert "account.settings_change</td>" not in page.text
    assert "<time datetime=" in page.text
    assert '<div class="table-scroll">' in page.text


@pytest.mark.usefixtures("two_accounts_busy")
async def test_filters_narrow_by_actor_action_target_and_date(
    client: httpx.AsyncClient, admin_a: Person, member_a: Person, database: Database
) -> None:
    await sign_in(client, admin_a, database)
    by_action = await _events(client, action="account.settings_change")
    assert [event["actor_username"] for event in by_action] == ["admin-a"]
    assert by_action[0]["action_words"] == "Organisation settings changed"
    assert by_action[0]["actor_role_words"] == "Administrator"
    by_actor = await _events(client, actor="ADMIN-A")
    assert by_actor
    assert {event["actor_id"] for event in by_actor} == {admin_a.user_id}
    by_target = await _events(client, target="member-a")
    assert by_target
    assert {event["target_id"] for event in by_target} == {member_a.user_id}
    assert {event["target_username"] for event in by_target} == {"member-a"}
    today = utcnow().astimezone(zone_named(None)).date()
    assert await _events(client, since=today.isoformat(), until=today.isoformat())
    assert await _events(client, since=(today + timedelta(days=1)).isoformat()) == []
    assert await _events(client, until=(today - timedelta(days=1)).isoformat()) == []
    assert await _events(client, actor="nobody-here") == []


@pytest.mark.usefixtures("two_accounts_busy")
async def test_bad_filters_are_a_fields_message(
    client: httpx.AsyncClient, admin_a: Person, database: Database
) -> None:
    await sign_in(client, admin_a, database)
    for query, field in (
        ({"since": "2026-13-01"}, "since"),
        ({"until": "yesterday"}, "until"),
        ({"since": "2026-12-02", "until": "2026-12-01"}, "until"),
        ({"cursor": "abc"}, "cursor"),
    ):
        page = await client.get("/admin/audit", params=query)
        assert page.status_code == 400, query
        assert f'id="{field}-error"' in page.text
        api = await client.get("/api/v1/audit/events", params=query)
        assert api.status_code == 422, query
        assert api.headers["content-type"].startswith("application/problem+json")
        assert api.json()["code"] in {"invalid_date", "invalid_cursor"}
    assert (await client.get("/api/v1/audit/events", params={"limit": "0"})).status_code == 422
    too_long = await client.get("/admin/audit", params={"actor": "x" * 300})
    assert too_long.status_code == 400


@pytest.mark.usefixtures("two_accounts_busy")
async def test_pages_of_events_follow_one_another_without_overlap(
    client: httpx.AsyncClient, admin_a: Person, database: Database
) -> None:
    await sign_in(client, admin_a, database)
    everything = await _events(client, limit="200")
    assert len(everything) > 3
    seen: list[object] = []
    cursor = ""
    while True:
        response = await client.get("/api/v1/audit/events", params={"limit": "2", "cursor": cursor})
        body = response.json()
        seen.extend(event["seq"] for event in body["events"])
        if body["next_cursor"] is None:
            break
        cursor = body["next_cursor"]
    assert seen == [event["seq"] for event in everything]
    page = await client.get("/admin/audit", params={"action": "user.invite"})
    assert page.status_code == 200


@pytest.mark.usefixtures("two_accounts_busy")
@pytest.mark.parametrize("role", [Role.PRIVACY_OFFICER, Role.PLATFORM_ADMIN])
async def test_privacy_officers_and_platform_admins_read_every_account(
    client: httpx.AsyncClient,
    admin_a: Person,
    admin_b: Person,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    role: Role,
) -> None:
    staff = await make_user(
        database, test_keyring, settings, account_id=None, username=f"s-{role.value}", role=role
    )
    await sign_in(client, staff, database)
    every = {event["account_id"] for event in await _events(client, limit="200")}
    assert {admin_a.account_id, admin_b.account_id} <= every
    only_b = await _events(client, account=admin_b.account_id)
    assert only_b
    assert {event["account_id"] for event in only_b} == {admin_b.account_id}
    page = await client.get("/admin/audit")
    assert page.status_code == 200
    assert 'name="account"' in page.text


@pytest.mark.parametrize("role", [Role.MEMBER, Role.SUPPORT_AGENT, Role.COMMUNICATIONS])
async def test_others_may_not_read_the_audit_log(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    account_a: str,
    role: Role,
) -> None:
    person = await make_user(
        database,
        test_keyring,
        settings,
        account_id=account_a,
        username=f"r-{role.value}",
        role=role,
    )
    await sign_in(client, person, database)
    assert (await client.get("/admin/audit")).status_code == 403
    assert (await client.get("/api/v1/audit/events")).status_code == 403
