"""The HTML doors give the same answers as the API, and work without JavaScript."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pytest

from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.identity.models import User
from amanat.identity.password_policy import STRENGTH_LABELS
from amanat.people.blind_index import find_person_id_by_email
from amanat.web.localtime import format_local, zone_named
from tests.support.forms import IDENTITY_INPUTS, error_beside, is_required
from tests.support.identity import (
    ADDRESS,
    CNIC,
    CNIC_DIGITS,
    PHONE,
    PHONE_E164,
    VERIFYING_IDENTITY,
    Person,
    forget_used_totp_steps,
    load_user,
    next_totp,
    person_of,
    sign_in,
)

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
    expected = {
        "/account": "/signin",  # where a sign-in ends anyway
        "/admin/users": "/signin?next=%2Fadmin%2Fusers",
        "/account/password": "/signin?next=%2Faccount%2Fpassword",
    }
    for path, location in expected.items():
        response = await client.get(path)
        assert response.status_code == 303
        assert response.headers["location"] == location


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
        data={"csrf_token": csrf, "confirmed": "yes"},  # from the confirmation page
        headers={"x-csrf-token": ""},
    )
    assert done.status_code == 303
    after = await client.get(f"/admin/users/{member_a.user_id}")
    assert 'data-testid="status">Suspended' in after.text


async def test_sign_out_form_ends_the_session(
    client: httpx.AsyncClient, member_a: Person, database: Database
) -> None:
    csrf = await sign_in(client, member_a, database)
    out = await client.post("/signout", data={"csrf_token": csrf}, headers={"x-csrf-token": ""})
    assert out.status_code == 303
    assert out.headers["clear-site-data"] == '"cache", "storage"'
    assert "__Host-amanat_session" not in client.cookies
    assert "__Host-amanat_device" in client.cookies
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
    # In the reader's zone (the default, Pakistan's), the zone named and the instant kept.
    assert (
        'Last changed: <time datetime="2024-03-05T10:20:00Z" title="Asia/Karachi">'
        "2024-03-05 15:20 PKT</time>." in page.text
    )
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
    local = format_local(user.password_changed_at, zone_named(None))
    assert f"{local}</time>." in after.text
    label = STRENGTH_LABELS[user.password_strength]
    assert f"Strength when set: <strong>{label}</strong>" in after.text


# -- the invite form's identity fields (AMANAT_REQUIRE_IDENTITY_FIELDS) ---------------------

INVITEE = {
    "username": "hina-newcomer",
    "full_name": "Hina Newcomer",
    "email": "hina@example.com",
    "role": "member",
}
IDENTITY = {"phone": PHONE, "cnic": CNIC, **ADDRESS}


async def _nobody_stored(database: Database, ring: MasterKeyring) -> None:
    assert await person_of(database, ring, INVITEE["username"]) is None
    async with database.sessionmaker() as session:
        assert await find_person_id_by_email(session, ring, INVITEE["email"]) is None


@VERIFYING_IDENTITY
async def test_the_invite_form_offers_the_identity_fields_marked_as_the_operator_requires(
    client: httpx.AsyncClient,
    verifying_client: httpx.AsyncClient,
    admin_a: Person,
    database: Database,
) -> None:
    await sign_in(client, admin_a, database)
    optional = (await client.get("/admin/users")).text
    assert not any(is_required(optional, name) for name in IDENTITY_INPUTS)
    assert "Phone number (optional)" in optional
    assert "CNIC (optional)" in optional
    assert "Postal address (optional)" in optional
    await sign_in(verifying_client, admin_a, database)
    required = (await verifying_client.get("/admin/users")).text
    assert is_required(required, "phone")
    assert is_required(required, "cnic")
    assert not is_required(required, "line1")  # the address is not required here
    assert "Phone number (required)" in required
    assert "CNIC (required)" in required
    assert "Postal address (optional)" in required


@VERIFYING_IDENTITY
async def test_the_invite_form_refuses_a_missing_required_field_beside_it_and_stores_nothing(
    verifying_client: httpx.AsyncClient,
    admin_a: Person,
    database: Database,
    test_keyring: MasterKeyring,
) -> None:
    csrf = await sign_in(verifying_client, admin_a, database)
    refused = await verifying_client.post(
        "/admin/users", data={"csrf_token": csrf, **INVITEE, "phone": PHONE}
    )
    assert refused.status_code == 422
    assert error_beside(refused.text, "cnic") == "CNIC is required for identity verification."
    assert error_beside(refused.text, "phone") == ""
    assert 'value="hina-newcomer"' in refused.text  # what the admin typed comes back to them
    await _nobody_stored(database, test_keyring)


@VERIFYING_IDENTITY
async def test_the_invite_form_stores_the_required_fields(
    verifying_client: httpx.AsyncClient,
    admin_a: Person,
    database: Database,
    test_keyring: MasterKeyring,
) -> None:
    csrf = await sign_in(verifying_client, admin_a, database)
    done = await verifying_client.post(
        "/admin/users", data={"csrf_token": csrf, **INVITEE, **IDENTITY}
    )
    assert done.status_code == 303, done.text
    person = await person_of(database, test_keyring, INVITEE["username"])
    assert person is not None
    assert (person.phone, person.cnic) == (PHONE_E164, CNIC_DIGITS)
    assert person.address is not None
    assert (person.address.line1, person.address.city, person.address.postal_code) == (
        "House 12, Street 4",
        "Lahore",
        "54700",
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "cnic",
            "35202-1234567",
            "CNIC must be 13 digits, written #####-#######-# or without dashes.",
        ),
        ("postal_code", "5470", "A Pakistani postal code is 5 digits."),
        ("city", "", "City is required."),
    ],
)
async def test_the_invite_form_shows_a_bad_value_beside_its_field_and_stores_nothing(
    client: httpx.AsyncClient,
    admin_a: Person,
    database: Database,
    test_keyring: MasterKeyring,
    field: str,
    value: str,
    message: str,
) -> None:
    csrf = await sign_in(client, admin_a, database)
    refused = await client.post(
        "/admin/users", data={"csrf_token": csrf, **INVITEE, **IDENTITY, field: value}
    )
    assert refused.status_code == 422
    assert error_beside(refused.text, field) == message
    assert "Nothing was saved" in refused.text
    await _nobody_stored(database, test_keyring)


async def test_with_nothing_required_the_invite_form_works_with_or_without_the_fields(
    client: httpx.AsyncClient,
    admin_a: Person,
    database: Database,
    test_keyring: MasterKeyring,
) -> None:
    csrf = await sign_in(client, admin_a, database)
    bare = await client.post("/admin/users", data={"csrf_token": csrf, **INVITEE})
    assert bare.status_code == 303, bare.text
    person = await person_of(database, test_keyring, INVITEE["username"])
    assert person is not None
    assert (person.phone, person.cnic, person.address) == (None, None, None)
    full = await client.post(
        "/admin/users",
        data={
            "csrf_token": csrf,
            **INVITEE,
            "username": "second-user",
            "email": "second@example.com",
            **IDENTITY,
        },
    )
    assert full.status_code == 303, full.text
    second = await person_of(database, test_keyring, "second-user")
    assert second is not None
    assert (second.phone, second.cnic) == (PHONE_E164, CNIC_DIGITS)
    assert second.address is not None
    assert second.address.province == "Punjab"
