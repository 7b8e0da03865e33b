"""Platform admins open customer accounts, seed their owners and manage staff roles."""

from __future__ import annotations

import httpx
import pytest

from amanat.access.roles import Role
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.settings import Settings
from tests.support.forms import error_beside, is_required
from tests.support.identity import (
    CNIC,
    CNIC_DIGITS,
    PHONE,
    PHONE_E164,
    VERIFYING_IDENTITY,
    Person,
    make_user,
    person_of,
    sign_in,
)

pytestmark = pytest.mark.policy("§2 manage the respective customer account")


@pytest.fixture
async def platform_admin(
    database: Database, test_keyring: MasterKeyring, settings: Settings
) -> Person:
    return await make_user(
        database, test_keyring, settings, account_id=None, username="root", role=Role.PLATFORM_ADMIN
    )


async def test_platform_admin_opens_an_account_and_seeds_its_owner(
    client: httpx.AsyncClient, platform_admin: Person, database: Database
) -> None:
    await sign_in(client, platform_admin, database)
    opened = await client.post("/api/v1/accounts", json={"name": "Gamma Foods"})
    assert opened.status_code == 201
    account_id = opened.json()["id"]
    owner = await client.post(
        "/api/v1/users",
        json={
            "username": "gamma-owner",
            "full_name": "Gul Owner",
            "email": "gul@example.com",
            "role": "owner",
            "account_id": account_id,
        },
    )
    assert owner.status_code == 201, owner.text
    assert owner.json()["account_id"] == account_id
    assert owner.json()["email"] == "g***@example.com"
    listed = await client.get("/api/v1/accounts")
    assert [row["name"] for row in listed.json()] == ["Gamma Foods"]
    # Seeding an owner does not make the customer's users visible to the platform admin.
    assert (await client.get(f"/api/v1/users/{owner.json()['id']}")).status_code == 404


async def test_platform_admin_creates_staff_and_changes_their_role(
    client: httpx.AsyncClient, platform_admin: Person, database: Database
) -> None:
    await sign_in(client, platform_admin, database)
    agent = await client.post(
        "/api/v1/users",
        json={
            "username": "agent-one",
            "full_name": "Sana Agent",
            "email": "sana@example.com",
            "role": "support_agent",
        },
    )
    assert agent.status_code == 201
    changed = await client.put(
        f"/api/v1/users/{agent.json()['id']}/role", json={"role": "privacy_officer"}
    )
    assert changed.status_code == 200
    assert changed.json()["role"] == "privacy_officer"
    customer_role = await client.put(
        f"/api/v1/users/{agent.json()['id']}/role", json={"role": "member"}
    )
    assert customer_role.status_code == 403


async def test_account_admins_cannot_open_accounts(
    client: httpx.AsyncClient, admin_a: Person, database: Database
) -> None:
    await sign_in(client, admin_a, database)
    assert (await client.post("/api/v1/accounts", json={"name": "X"})).status_code == 403
    assert (await client.get("/api/v1/accounts")).status_code == 403


# The accounts page's form: a new account and its first owner.
DELTA = {
    "name": "Delta Textiles",
    "username": "delta-owner",
    "full_name": "Dua Owner",
    "email": "dua@example.com",
}


async def test_accounts_page_opens_an_account_with_its_owner_or_nothing(
    client: httpx.AsyncClient, platform_admin: Person, database: Database
) -> None:
    csrf = await sign_in(client, platform_admin, database)
    page = await client.get("/admin/accounts")
    assert page.status_code == 200
    assert "Open an account" in page.text
    form = {"csrf_token": csrf, **DELTA}
    done = await client.post("/admin/accounts", data=form)
    assert done.status_code == 303
    again = await client.post("/admin/accounts", data={**form, "name": "Delta Again"})
    assert again.status_code == 409  # the username is taken: the second account is not kept
    listed = await client.get("/api/v1/accounts")
    assert [row["name"] for row in listed.json()] == ["Delta Textiles"]


@VERIFYING_IDENTITY
async def test_the_open_account_form_takes_and_enforces_the_owners_identity_fields(
    verifying_client: httpx.AsyncClient,
    platform_admin: Person,
    database: Database,
    test_keyring: MasterKeyring,
) -> None:
    csrf = await sign_in(verifying_client, platform_admin, database)
    page = (await verifying_client.get("/admin/accounts")).text
    assert is_required(page, "phone")
    assert is_required(page, "cnic")
    assert not is_required(page, "line1")
    form = {"csrf_token": csrf, **DELTA, "cnic": CNIC}
    refused = await verifying_client.post("/admin/accounts", data=form)
    assert refused.status_code == 422
    assert error_beside(refused.text, "phone") == (
        "Phone number is required for identity verification."
    )
    listed = await verifying_client.get("/api/v1/accounts")
    assert listed.json() == []  # no account without its owner
    assert await person_of(database, test_keyring, "delta-owner") is None
    done = await verifying_client.post(
        "/admin/accounts", data={**form, "phone": PHONE, "city": "Karachi"}
    )
    assert done.status_code == 422  # an address begun is an address: line 1 is missing
    assert error_beside(done.text, "line1") == "Address line 1 is required."
    done = await verifying_client.post("/admin/accounts", data={**form, "phone": PHONE})
    assert done.status_code == 303, done.text
    owner = await person_of(database, test_keyring, "delta-owner")
    assert owner is not None
    assert (owner.phone, owner.cnic, owner.address) == (PHONE_E164, CNIC_DIGITS, None)
