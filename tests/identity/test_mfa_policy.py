"""Who must have a second factor: platform staff and account owners and admins always, whatever
their account says; members when their account asks for it, which it does by default."""

from __future__ import annotations

import httpx
import pytest

from amanat.access.actors import OPERATOR
from amanat.access.roles import PLATFORM_ROLES, Role
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.settings import Settings
from amanat.identity.accounts import platform_account, set_members_need_mfa
from tests.support.identity import Person, make_user

pytestmark = [pytest.mark.asvs("V6.3.3", "V6.3.4"), pytest.mark.policy("§4 access controls")]

ALWAYS_NEED_MFA = [Role.OWNER, Role.ADMIN, *sorted(PLATFORM_ROLES)]


async def _members_need_mfa(database: Database, account_id: str, required: bool) -> None:
    async with database.sessionmaker() as session:
        await set_members_need_mfa(session, OPERATOR, account_id, required)
        await session.commit()


async def _platform_account_id(database: Database) -> str:
    async with database.sessionmaker() as session:
        account = await platform_account(session)
        await session.commit()
        return account.id


async def _sign_in_with_password(client: httpx.AsyncClient, person: Person) -> dict[str, object]:
    response = await client.post(
        "/api/v1/session", json={"login": person.username, "password": person.password}
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    client.headers["x-csrf-token"] = str(body["csrf_token"])
    return body


async def test_with_member_mfa_off_a_member_gets_a_full_session_without_a_second_factor(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    account_a: str,
) -> None:
    await _members_need_mfa(database, account_a, False)
    member = await make_user(
        database, test_keyring, settings, account_id=account_a, username="plain-member", mfa=False
    )
    body = await _sign_in_with_password(client, member)
    assert body["needs_second_factor"] is False
    assert body["needs_mfa_enrolment"] is False
    assert (await client.get("/api/v1/me/sessions")).status_code == 200
    account_page = await client.get("/account")
    assert account_page.status_code == 200


@pytest.mark.parametrize("role", ALWAYS_NEED_MFA, ids=str)
async def test_with_member_mfa_off_owners_admins_and_staff_are_still_told_to_enrol(
    role: Role,
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    account_a: str,
) -> None:
    await _members_need_mfa(database, account_a, False)
    # Staff live in the platform account: its member setting is off too, and does not count.
    await _members_need_mfa(database, await _platform_account_id(database), False)
    person = await make_user(
        database,
        test_keyring,
        settings,
        account_id=account_a,
        username=f"no-factor-{role.value.replace('_', '-')}",
        role=role,
        mfa=False,
    )
    body = await _sign_in_with_password(client, person)
    assert body["needs_second_factor"] is False
    assert body["needs_mfa_enrolment"] is True
    refused = await client.get("/api/v1/me/sessions")
    assert refused.status_code == 403
    assert refused.json()["code"] == "mfa_enrolment_required"
    # A page that needs a full session sends them to set a factor up, and nowhere else.
    page = await client.get("/account")
    assert page.status_code == 303
    assert page.headers["location"] == "/account/mfa"
    # Enrolment itself stays open to them.
    assert (await client.post("/api/v1/me/mfa/totp")).status_code == 200


async def test_by_default_an_account_asks_its_members_for_a_second_factor(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    account_a: str,
) -> None:
    member = await make_user(
        database, test_keyring, settings, account_id=account_a, username="new-member", mfa=False
    )
    body = await _sign_in_with_password(client, member)
    assert body["needs_mfa_enrolment"] is True
    refused = await client.get("/api/v1/me/sessions")
    assert refused.status_code == 403
    assert refused.json()["code"] == "mfa_enrolment_required"
