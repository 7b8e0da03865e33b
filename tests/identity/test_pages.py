"""The HTML doors give the same answers as the API, and work without JavaScript."""

from __future__ import annotations

import re

import httpx
import pytest

from amanat.core.db import Database
from tests.support.identity import Person, forget_used_totp_steps, next_totp, sign_in

pytestmark = pytest.mark.asvs("V3.5.1", "V6.2.6", "V7.4.4")


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
