"""Purpose-bound reveal: an account admin for their own users, a privacy officer for anyone,
nobody else (platform admins included, support agents until tickets exist); each reveal names a
policy §2 purpose and a reason, is audited and bounded per actor, and the person reads who
looked, when and why."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from amanat.access.actors import OPERATOR
from amanat.access.roles import Role
from amanat.audit.models import AuditRecord
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.settings import Settings
from amanat.identity.user_management import remove_user
from amanat.people.models import PersonalDataAccess
from amanat.people.registry import update_person
from amanat.web.app import create_app
from tests.support.identity import Person, load_user, make_user, sign_in

pytestmark = [
    pytest.mark.policy("§4 access controls"),
    pytest.mark.asvs("V8.2.3", "V14.2.4"),
]

CNIC = "35202-1234567-1"
REASON = "Bilal asked us to check the CNIC on his invoice dispute"


async def _give_identity(database: Database, ring: MasterKeyring, person: Person) -> None:
    """The member also has a CNIC, a phone and an address (changed through the service)."""
    user = await load_user(database, person.user_id)
    assert user.person_id is not None
    async with database.sessionmaker() as session:
        await update_person(
            session,
            ring,
            user.person_id,
            cnic=CNIC,
            phone="0300-7654321",
            address={"line1": "House 5", "city": "Lahore", "province": "Punjab",
                     "postal_code": "54000"},
        )  # fmt: skip
        await session.commit()


@pytest.fixture
async def subject(database: Database, test_keyring: MasterKeyring, member_a: Person) -> Person:
    await _give_identity(database, test_keyring, member_a)
    return member_a


async def _staff(
    database: Database, ring: MasterKeyring, settings: Settings, username: str, role: Role
) -> Person:
    return await make_user(database, ring, settings, account_id=None, username=username, role=role)


@pytest.fixture
async def privacy_officer(
    database: Database, test_keyring: MasterKeyring, settings: Settings
) -> Person:
    return await _staff(database, test_keyring, settings, "po-staff", Role.PRIVACY_OFFICER)


def _body(**overrides: Any) -> dict[str, Any]:
    return {"field": "cnic", "purpose": "identity_verification", "reason": REASON, **overrides}


async def _reveal(client: httpx.AsyncClient, user_id: str, **overrides: Any) -> httpx.Response:
    return await client.post(f"/api/v1/people/{user_id}/reveal", json=_body(**overrides))


async def _records(database: Database, action: str) -> list[AuditRecord]:
    async with database.sessionmaker() as session:
        rows = await session.scalars(
            select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.seq)
        )
        return list(rows)


async def _access_count(database: Database) -> int:
    async with database.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(PersonalDataAccess)) or 0)


@pytest.mark.policy("§2 why we collect")
async def test_admin_reveals_own_users_cnic_for_a_purpose(
    client: httpx.AsyncClient, database: Database, admin_a: Person, subject: Person
) -> None:
    await sign_in(client, admin_a, database)
    shown = await _reveal(client, subject.user_id)
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert (body["field"], body["purpose"], body["value"]) == (
        "cnic",
        "identity_verification",
        CNIC,
    )
    assert shown.headers["cache-control"] == "no-store"

    (record,) = await _records(database, "people.reveal")
    assert (record.actor_id, record.purpose) == (admin_a.user_id, "identity_verification")
    assert json.loads(record.details) == {"field": "cnic", "access_id": body["access_id"]}
    assert "1234567" not in record.details
    assert "invoice" not in record.details

    async with database.sessionmaker() as session:
        access = await session.get(PersonalDataAccess, body["access_id"])
        assert access is not None
        assert (access.actor_id, access.actor_role, access.field) == (
            admin_a.user_id,
            "admin",
            "cnic",
        )
        raw = (
            await session.execute(
                text("SELECT * FROM personal_data_access WHERE id = :id"), {"id": access.id}
            )
        ).one()
    stored = b"".join(
        bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode()
        for value in raw
    )
    assert REASON.encode() not in stored
    assert b"invoice" not in stored  # the reason is sealed under the person's key


async def test_the_same_field_can_be_asked_for_any_purpose_the_role_has(
    client: httpx.AsyncClient, database: Database, admin_a: Person, subject: Person
) -> None:
    await sign_in(client, admin_a, database)
    for field, value in (
        ("full_name", "Bilal Member"),
        ("email", subject.email),
        ("phone", "+92 300 7654321"),
        ("address", "House 5, Lahore, Punjab 54000, PK"),
    ):
        shown = await _reveal(client, subject.user_id, field=field, purpose="account_management")
        assert shown.status_code == 200, shown.text
        assert shown.json()["value"] == value


async def test_admin_of_another_account_gets_not_found(
    client: httpx.AsyncClient, database: Database, admin_b: Person, subject: Person
) -> None:
    await sign_in(client, admin_b, database)
    refused = await _reveal(client, subject.user_id)
    assert refused.status_code == 404
    assert refused.json()["code"] == "user_not_found"
    assert CNIC not in refused.text
    assert await _access_count(database) == 0
    (denied,) = await _records(database, "people.reveal_denied")
    assert denied.actor_id == admin_b.user_id
    assert json.loads(denied.details)["refusal"] == "user_not_found"


async def test_a_member_cannot_reveal(
    client: httpx.AsyncClient, database: Database, member_a: Person, admin_a: Person
) -> None:
    await sign_in(client, member_a, database)
    refused = await _reveal(client, admin_a.user_id)
    assert refused.status_code == 403
    assert refused.json()["code"] == "reveal_not_allowed"
    assert await _access_count(database) == 0


async def test_a_platform_admin_cannot_reveal(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    subject: Person,
) -> None:
    root = await _staff(database, test_keyring, settings, "root-admin", Role.PLATFORM_ADMIN)
    await sign_in(client, root, database)
    for purpose in ("account_management", "identity_verification", "customer_support"):
        refused = await _reveal(client, subject.user_id, purpose=purpose)
        assert refused.status_code == 403
        assert refused.json()["code"] == "reveal_not_allowed"
    assert await _access_count(database) == 0
    assert len(await _records(database, "people.reveal_denied")) == 3


async def test_a_privacy_officer_reveals_anyones_data(
    client: httpx.AsyncClient,
    database: Database,
    privacy_officer: Person,
    subject: Person,
    member_b: Person,
) -> None:
    await sign_in(client, privacy_officer, database)
    shown = await _reveal(client, subject.user_id)
    assert shown.status_code == 200, shown.text
    assert shown.json()["value"] == CNIC
    other = await _reveal(client, member_b.user_id, field="email", purpose="customer_support")
    assert other.status_code == 200, other.text
    assert other.json()["value"] == member_b.email


async def test_a_support_agent_needs_a_ticket(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    subject: Person,
) -> None:
    agent = await _staff(database, test_keyring, settings, "agent-one", Role.SUPPORT_AGENT)
    await sign_in(client, agent, database)
    refused = await _reveal(client, subject.user_id, purpose="customer_support")
    assert refused.status_code == 403
    assert refused.json()["code"] == "ticket_required"
    assert await _access_count(database) == 0


async def test_an_account_admin_may_not_claim_customer_support(
    client: httpx.AsyncClient, database: Database, admin_a: Person, subject: Person
) -> None:
    await sign_in(client, admin_a, database)
    refused = await _reveal(client, subject.user_id, purpose="customer_support")
    assert refused.status_code == 403
    assert refused.json()["code"] == "purpose_not_allowed"


@pytest.mark.policy("§2 why we collect")
@pytest.mark.asvs("V2.2.1")
@pytest.mark.parametrize(
    "body",
    [
        {"field": "cnic", "reason": REASON},
        _body(purpose="marketing"),
        _body(purpose=""),
        _body(reason="why"),
        _body(reason="x" * 301),
        _body(field="password_hash"),
        {"field": "cnic", "purpose": "identity_verification"},
        _body(extra="value"),
    ],
)
async def test_a_reveal_names_a_policy_purpose_and_a_reason(
    client: httpx.AsyncClient,
    database: Database,
    admin_a: Person,
    subject: Person,
    body: dict[str, Any],
) -> None:
    await sign_in(client, admin_a, database)
    refused = await client.post(f"/api/v1/people/{subject.user_id}/reveal", json=body)
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "invalid_input"
    assert await _access_count(database) == 0


async def test_a_reason_with_control_characters_is_refused(
    client: httpx.AsyncClient, database: Database, admin_a: Person, subject: Person
) -> None:
    await sign_in(client, admin_a, database)
    refused = await _reveal(client, subject.user_id, reason="check\u202eeulav the CNIC")
    assert refused.status_code == 422
    assert refused.json()["code"] == "invalid_reason"


@pytest.fixture
async def limited_client(
    tmp_path: Path, database: Database, test_keyring: MasterKeyring
) -> AsyncIterator[httpx.AsyncClient]:
    """A server that allows three reveals per actor and hour."""
    limited = Settings(
        data_dir=tmp_path / "limited", environment="development", reveal_limit_per_hour=3
    )
    app = create_app(limited, database=database, keyring=test_keyring)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50003))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
        yield http


@pytest.mark.asvs("V2.4.1")
async def test_reveals_are_rate_limited_per_actor(
    limited_client: httpx.AsyncClient,
    client: httpx.AsyncClient,
    database: Database,
    admin_a: Person,
    privacy_officer: Person,
    subject: Person,
) -> None:
    await sign_in(limited_client, admin_a, database)
    for _ in range(3):
        assert (await _reveal(limited_client, subject.user_id)).status_code == 200
    over = await _reveal(limited_client, subject.user_id)
    assert over.status_code == 429
    assert over.json()["code"] == "reveal_rate_limited"
    assert over.headers["retry-after"] == str(over.json()["retry_after"])
    assert CNIC not in over.text
    assert await _access_count(database) == 3
    # The limit is the actor's: someone else may still reveal.
    await sign_in(client, privacy_officer, database)
    assert (await _reveal(client, subject.user_id)).status_code == 200


def test_the_default_limit_is_thirty_reveals_an_hour() -> None:
    assert Settings().reveal_limit_per_hour == 30


@pytest.mark.policy("§2 why we collect")
async def test_the_person_sees_who_looked_at_their_data_and_why(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    database: Database,
    admin_a: Person,
    privacy_officer: Person,
    subject: Person,
) -> None:
    await sign_in(client, admin_a, database)
    assert (await _reveal(client, subject.user_id)).status_code == 200
    await sign_in(second_client, privacy_officer, database)
    staff_reason = "Access request 7: checking what we hold"
    shown = await _reveal(
        second_client, subject.user_id, field="email", purpose="account_management",
        reason=staff_reason,
    )  # fmt: skip
    assert shown.status_code == 200

    await sign_in(client, subject, database)
    listed = await client.get("/api/v1/me/data-access")
    assert listed.status_code == 200, listed.text
    newest, oldest = listed.json()
    assert (newest["who"], newest["role"], newest["field"], newest["purpose"]) == (
        "Amanat staff",
        "Privacy officer",
        "email",
        "account_management",
    )
    assert newest["reason"] == staff_reason
    assert "po-staff" not in listed.text  # staff appear as staff, not by username
    assert (oldest["who"], oldest["role"], oldest["field"], oldest["reason"]) == (
        "admin-a",
        "Administrator",
        "cnic",
        REASON,
    )
    page = await client.get("/account/privacy")
    assert page.status_code == 200
    assert "invoice dispute" in page.text
    assert "Amanat staff" in page.text
    assert 'href="/privacy-policy"' in page.text
    assert 'href="/account/privacy"' in page.text  # in the navigation of every page


async def test_nobody_else_reads_a_persons_access_list(
    client: httpx.AsyncClient, database: Database, admin_a: Person, subject: Person
) -> None:
    await sign_in(client, admin_a, database)
    assert (await _reveal(client, subject.user_id)).status_code == 200
    own = await client.get("/api/v1/me/data-access")
    assert own.json() == []  # the admin's own list, not their users'


@pytest.mark.asvs("V14.2.1", "V14.3.2")
async def test_revealed_values_travel_only_in_bodies_and_are_not_cached(
    client: httpx.AsyncClient, database: Database, admin_a: Person, subject: Person
) -> None:
    await sign_in(client, admin_a, database)
    as_get = await client.get(f"/api/v1/people/{subject.user_id}/reveal", params={"field": "cnic"})
    assert as_get.status_code == 405
    form = await client.get(f"/admin/reveal/{subject.user_id}")
    assert form.status_code == 200
    assert 'value="identity_verification"' in form.text
    assert 'value="customer_support"' not in form.text
    page = await client.post(
        f"/admin/reveal/{subject.user_id}",
        data={
            "field": "cnic",
            "purpose": "identity_verification",
            "reason": REASON,
            "csrf_token": client.headers["x-csrf-token"],
        },
    )
    # POST/redirect/GET: the value is on the page the redirect leads to, never in its URL.
    assert page.status_code == 303, page.text
    assert CNIC not in page.text
    location = page.headers["location"]
    assert location == f"/admin/reveal/{subject.user_id}/shown"
    shown = await client.get(location)
    assert CNIC in shown.text
    assert shown.headers["cache-control"] == "no-store"


async def test_a_refused_reveal_page_shows_why(
    client: httpx.AsyncClient, database: Database, admin_b: Person, subject: Person
) -> None:
    await sign_in(client, admin_b, database)
    page = await client.post(
        f"/admin/reveal/{subject.user_id}",
        data={
            "field": "cnic",
            "purpose": "identity_verification",
            "reason": REASON,
            "csrf_token": client.headers["x-csrf-token"],
        },
    )
    assert page.status_code == 404
    assert CNIC not in page.text
    assert len(await _records(database, "people.reveal_denied")) == 1


async def test_erasing_the_person_takes_their_access_history_along(
    client: httpx.AsyncClient, database: Database, admin_a: Person, subject: Person
) -> None:
    await sign_in(client, admin_a, database)
    assert (await _reveal(client, subject.user_id)).status_code == 200
    async with database.sessionmaker() as session:
        await remove_user(session, OPERATOR, subject.user_id)
        await session.commit()
    assert await _access_count(database) == 0
    assert len(await _records(database, "people.reveal")) == 1  # the audit record stays
