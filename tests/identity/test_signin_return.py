"""A signed-out person who opens a page signs in and lands on it; only a path of this site is
honoured (no open redirect), and it is kept through the second factor on the server side."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.settings import Settings
from amanat.identity.models import User
from amanat.identity.return_to import MAX_RETURN_PATH, safe_return_path, signin_page_for
from tests.support.identity import Person, forget_used_totp_steps, make_user, next_totp

pytestmark = pytest.mark.asvs("V3.7.2")

OPEN_REDIRECTS = [
    "//evil.example/x",
    "/\\evil.example",
    "\\\\evil.example",
    "https://evil.example/",
    "javascript:alert(1)",
    "evil.example",
    "/%0d%0aSet-Cookie:x=1".replace("%0d%0a", "\r\n"),
    "/account\x00",
    " /account",
    "/" + "a" * MAX_RETURN_PATH,
    "/signin",
    "/signout",
    "/api/v1/me",
    "/x:y",
]


@pytest.mark.parametrize("value", OPEN_REDIRECTS)
def test_anything_but_a_path_of_this_site_is_refused(value: str) -> None:
    assert safe_return_path(value) is None


@pytest.mark.parametrize("value", ["/admin/users", "/admin/users?page=2&q=x", "/account/devices"])
def test_paths_of_this_site_are_kept(value: str) -> None:
    assert safe_return_path(value) == value


def test_the_signin_page_for_a_page_names_it_and_for_the_account_page_does_not() -> None:
    assert signin_page_for("/admin/users", "page=2") == "/signin?next=%2Fadmin%2Fusers%3Fpage%3D2"
    assert signin_page_for("/account") == "/signin"
    assert signin_page_for("//evil.example") == "/signin"


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


async def _password_step(
    client: httpx.AsyncClient, person: Person, next_value: str | None
) -> httpx.Response:
    query = {"next": next_value} if next_value is not None else {}
    form = await client.get("/signin", params=query)
    data = {"csrf_token": _csrf(form.text), "login": person.username, "password": person.password}
    if next_value is not None:
        data["next"] = next_value
    return await client.post("/signin", data=data)


async def _second_factor_step(
    client: httpx.AsyncClient, person: Person, database: Database, **extra: str
) -> httpx.Response:
    assert person.totp_secret is not None
    await forget_used_totp_steps(database, person.user_id)
    form = await client.get("/signin/second-factor")
    return await client.post(
        "/signin/second-factor",
        data={"csrf_token": _csrf(form.text), "code": next_totp(person.totp_secret, 0), **extra},
    )


async def test_signing_in_lands_on_the_page_asked_for_after_the_second_factor(
    client: httpx.AsyncClient, admin_a: Person, database: Database
) -> None:
    asked = await client.get("/admin/users")
    assert asked.status_code == 303
    assert asked.headers["location"] == "/signin?next=%2Fadmin%2Fusers"
    form = await client.get(asked.headers["location"])
    assert '<input type="hidden" name="next" value="/admin/users">' in form.text
    password = await _password_step(client, admin_a, "/admin/users")
    assert password.headers["location"] == "/signin/second-factor"
    done = await _second_factor_step(client, admin_a, database)
    assert done.status_code == 303
    assert done.headers["location"] == "/admin/users"
    assert (await client.get("/admin/users")).status_code == 200


@pytest.mark.parametrize("value", ["//evil.example/x", "https://evil.example/", "/\\evil.example"])
async def test_a_foreign_next_ends_on_the_account_page(
    client: httpx.AsyncClient, admin_a: Person, database: Database, value: str
) -> None:
    form = await client.get("/signin", params={"next": value})
    assert 'name="next"' not in form.text
    await _password_step(client, admin_a, value)
    done = await _second_factor_step(client, admin_a, database)
    assert done.headers["location"] == "/account"


async def test_the_second_factor_form_cannot_choose_where_the_sign_in_ends(
    client: httpx.AsyncClient, admin_a: Person, database: Database
) -> None:
    await _password_step(client, admin_a, None)
    done = await _second_factor_step(client, admin_a, database, next="/admin/users")
    assert done.headers["location"] == "/account"


async def test_a_forced_set_up_of_the_second_factor_ends_on_the_page_asked_for(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    account_a: str,
) -> None:
    newcomer = await make_user(
        database, test_keyring, settings, account_id=account_a, username="new-one", mfa=False
    )
    password = await _password_step(client, newcomer, "/account/devices")
    assert password.headers["location"] == "/account/mfa"
    setup = await client.get("/account/mfa")
    found = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', setup.text)
    assert found is not None
    turned_on = await client.post(
        "/account/mfa", data={"csrf_token": _csrf(setup.text), "code": next_totp(found.group(1), 0)}
    )
    assert turned_on.status_code == 303
    assert turned_on.headers["location"] == "/account/mfa/recovery-codes"
    codes: Any = await client.get("/account/mfa/recovery-codes")
    assert "Your second factor is on." in codes.text
    assert 'href="/account/devices">I have saved them, continue' in codes.text
    async with database.sessionmaker() as session:
        user = await session.scalar(select(User).where(User.username == "new-one"))
        assert user is not None
        assert user.mfa_enabled_at is not None
