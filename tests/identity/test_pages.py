"""The HTML doors give the same answers as the API, and work without JavaScript."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pytest

from amanat.core.db import Database
from amanat.identity.models import User
from amanat.identity.pages import STRENGTH_LABELS
from tests.support.identity import Person, forget_used_totp_steps, load_user, next_totp, sign_in

pytestmark = pytest.mark.asvs("V3.5.1", "V6.2.6", "V7.4.4")

NEW_PASSWORD = "violet tundra lantern mosaic quill"


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


async def test_sign_in_form_then_second_factor_then_account_page(
    client: httpx.AsyncClient, member_a: Person, database: Database
) -> None:
    form = await client.get("/signin")
    assert form.status_code == 200
    assert 'type="password"' in form.text
    assert 'autocomplete="current-password"' in form.text
    wrong = await client.post(
        "/signin",
        data={"csrf_token": _csrf(form.text), "login": member_a.username, "password": "nope nope"},
    )
    assert wrong.status_code == 401
    assert "The username or password is incorrect." in wrong.text
    done = await client.post(
        "/signin",
        data={
            "csrf_token": _csrf(wrong.text),
            "login": member_a.username,
            "password": member_a.password,
        },
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/signin/second-factor"
    factor_page = await client.get("/signin/second-factor")
    assert member_a.totp_secret is not None
    await forget_used_totp_steps(database, member_a.user_id)
    finished = await client.post(
        "/signin/second-factor",
        data={"csrf_token": _csrf(factor_page.text), "code": next_totp(member_a.totp_secret, 0)},
    )
    assert finished.status_code == 303
    account = await client.get("/account")
    assert account.status_code == 200
    assert member_a.email in account.text  # a person sees their own data in full
    assert "Sign out" in account.text  # sign-out is on every page


async def test_sign_in_form_without_its_csrf_cookie_is_refused(
    client: httpx.AsyncClient, member_a: Person
) -> None:
    refused = await client.post(
        "/signin",
        data={"csrf_token": "x" * 43, "login": member_a.username, "password": member_a.password},
    )
    assert refused.status_code == 403


async def test_pages_send_people_who_are_not_signed_in_to_sign_in(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/account", "/admin/users", "/account/password"):
        response = await client.get(path)
        assert response.status_code == 303
        assert response.headers["location"] == "/signin"


async def test_admin_suspends_through_the_user_page(
    client: httpx.AsyncClient, admin_a: Person, member_a: Person, database: Database
) -> None:
    csrf = await sign_in(client, admin_a, database)
    listing = await client.get("/admin/users")
    assert member_a.username in listing.text
    assert member_a.email not in listing.text  # masked
    page = await client.get(f"/admin/users/{member_a.user_id}")
    assert "Suspend" in page.text
    forged = await client.post(
        f"/admin/users/{member_a.user_id}/suspend",
        data={"csrf_token": "forged"},
        headers={"x-csrf-token": ""},
    )
    assert forged.status_code == 403
    done = await client.post(
        f"/admin/users/{member_a.user_id}/suspend",
        data={"csrf_token": csrf},
        headers={"x-csrf-token": ""},
    )
    assert done.status_code == 303
    after = await client.get(f"/admin/users/{member_a.user_id}")
    assert 'data-testid="status">suspended' in after.text


async def test_sign_out_form_ends_the_session(
    client: httpx.AsyncClient, member_a: Person, database: Database
) -> None:
    csrf = await sign_in(client, member_a, database)
    out = await client.post("/signout", data={"csrf_token": csrf}, headers={"x-csrf-token": ""})
    assert out.status_code == 303
    assert "cookies" in out.headers["clear-site-data"]
    assert (await client.get("/account")).status_code == 303


@pytest.mark.asvs("V6.2.2")
@pytest.mark.policy("§4 user responsibility: strong passwords, updated")
async def test_the_account_page_shows_the_passwords_age_and_strength_and_offers_a_change(
    client: httpx.AsyncClient, member_a: Person, database: Database
) -> None:
    # The password was set a while ago, and was weak by the estimate then.
    async with database.sessionmaker() as session:
        user = await session.get(User, member_a.user_id)
        assert user is not None
        user.password_changed_at = datetime(2024, 3, 5, 10, 20, tzinfo=UTC)
        user.password_strength = 1
        await session.commit()
    await sign_in(client, member_a, database)
    page = await client.get("/account")
    assert page.status_code == 200
    assert "Last changed: 2024-03-05 10:20 UTC." in page.text
    assert "Strength when set: <strong>weak</strong>" in page.text
    assert 'href="/account/password"' in page.text
    form = await client.get("/account/password")
    assert 'name="current_password"' in form.text
    assert 'name="new_password"' in form.text

    changed = await client.post(
        "/api/v1/me/password",
        json={"current_password": member_a.password, "new_password": NEW_PASSWORD},
    )
    assert changed.status_code == 200
    user = await load_user(database, member_a.user_id)
    assert user.password_changed_at is not None
    assert user.password_strength is not None
    after = await client.get("/account")
    assert f"Last changed: {user.password_changed_at:%Y-%m-%d %H:%M} UTC." in after.text
    label = STRENGTH_LABELS[user.password_strength]
    assert f"Strength when set: <strong>{label}</strong>" in after.text
