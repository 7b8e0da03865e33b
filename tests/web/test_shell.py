"""What every page shares, whoever reads it: the signed-in navigation (error pages included),
a footer naming the reader's time zone, the site's icon, and wide tables that scroll inside
themselves (issue 11, "A UI that confirms and adapts")."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import select

from amanat.core.db import Database
from amanat.identity.models import UserSession
from tests.support.identity import Person, sign_in

HTML = {"accept": "text/html"}


async def _last_seen(database: Database, person: Person) -> list[object]:
    async with database.sessionmaker() as session:
        rows = await session.scalars(
            select(UserSession.last_seen_at).where(UserSession.user_id == person.user_id)
        )
        return list(rows)


async def _age_sessions(database: Database, person: Person, minutes: int) -> None:
    async with database.sessionmaker() as session:
        rows = await session.scalars(
            select(UserSession).where(UserSession.user_id == person.user_id)
        )
        for row in rows:
            row.last_seen_at -= timedelta(minutes=minutes)
        await session.commit()


async def test_a_signed_in_persons_error_page_has_their_navigation(
    client: httpx.AsyncClient, database: Database, admin_a: Person
) -> None:
    await sign_in(client, admin_a, database)
    page = await client.get("/no/such/page", headers=HTML)
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert 'data-code="not_found"' in page.text
    assert '<nav aria-label="Main">' in page.text
    assert 'href="/admin/users"' in page.text
    assert '<span class="whoami" dir="auto">admin-a</span>' in page.text
    assert 'action="/signout"' in page.text
    assert 'href="/account">Go to my account' in page.text
    assert "Times are shown in Asia/Karachi time" in page.text


async def test_an_error_page_looks_the_person_up_without_extending_their_session(
    client: httpx.AsyncClient, database: Database, admin_a: Person
) -> None:
    await sign_in(client, admin_a, database)
    await _age_sessions(database, admin_a, 5)
    before = await _last_seen(database, admin_a)
    page = await client.get("/no/such/page", headers=HTML)
    assert "admin-a" in page.text
    assert await _last_seen(database, admin_a) == before
    # A page the person opens does mark the session as used: the lookup above was the exception.
    assert (await client.get("/account", headers=HTML)).status_code == 200
    assert await _last_seen(database, admin_a) != before


async def test_a_half_signed_in_or_anonymous_visitor_gets_no_navigation(
    client: httpx.AsyncClient, admin_a: Person
) -> None:
    anonymous = await client.get("/no/such/page", headers=HTML)
    assert anonymous.status_code == 404
    assert 'action="/signout"' not in anonymous.text
    assert 'href="/signin">Sign in' in anonymous.text
    # Password given, second factor still owed: not signed in yet.
    started = await client.post(
        "/api/v1/session", json={"login": admin_a.username, "password": admin_a.password}
    )
    assert started.json()["needs_second_factor"] is True
    halfway = await client.get("/no/such/page", headers=HTML)
    assert 'action="/signout"' not in halfway.text
    assert "admin-a" not in halfway.text


async def test_a_broken_session_cookie_still_renders_the_error_page(
    client: httpx.AsyncClient,
) -> None:
    client.cookies.set("__Host-amanat_session", "x" * 500, domain="testserver")
    page = await client.get("/no/such/page", headers=HTML)
    assert page.status_code == 404
    assert "There is nothing at this address." in page.text


async def test_programs_still_get_problem_json(client: httpx.AsyncClient, admin_a: Person) -> None:
    await sign_in(client, admin_a)
    answer = await client.get("/api/v1/no-such-thing")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "not_found"


async def test_the_start_page_shows_a_signed_in_persons_navigation(
    client: httpx.AsyncClient, database: Database, member_a: Person
) -> None:
    anonymous = await client.get("/")
    assert 'action="/signout"' not in anonymous.text
    await sign_in(client, member_a, database)
    page = await client.get("/")
    assert '<span class="whoami" dir="auto">member-a</span>' in page.text
    assert 'href="/account" aria-current' not in page.text
    # A member supervises nobody: no admin links.
    assert 'href="/admin/users"' not in page.text
    assert 'href="/admin/settings"' not in page.text
    assert 'href="/account">change</a>' in page.text


async def test_admin_links_follow_the_viewers_permissions(
    client: httpx.AsyncClient, database: Database, admin_a: Person
) -> None:
    await sign_in(client, admin_a, database)
    page = await client.get("/account", headers=HTML)
    assert 'href="/account" aria-current="page"' in page.text
    assert 'href="/admin/settings"' in page.text
    assert 'href="/admin/accounts"' not in page.text


async def test_the_favicon_is_served(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page.text
    legacy = await client.get("/favicon.ico")
    assert legacy.status_code == 301
    assert legacy.headers["location"] == "/static/favicon.svg"
    icon = await client.get("/static/favicon.svg")
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")
    assert icon.text.startswith("<svg")


async def test_the_api_list_scrolls_inside_itself(client: httpx.AsyncClient) -> None:
    page = await client.get("/api/docs")
    if page.status_code == 200:  # turned off in production
        assert '<div class="table-scroll">\n<table class="api">' in page.text


async def test_a_refusal_page_keeps_the_navigation_and_offers_a_way_back(
    client: httpx.AsyncClient, database: Database, member_a: Person
) -> None:
    await sign_in(client, member_a, database)
    page = await client.get("/admin/activity", headers=HTML)
    assert page.status_code == 403
    assert '<span class="whoami" dir="auto">member-a</span>' in page.text
    assert 'href="/account">Go to my account' in page.text
    assert 'href="/admin/users">Go to users' not in page.text  # not theirs to visit
