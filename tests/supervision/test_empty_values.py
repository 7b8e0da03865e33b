"""An empty string is not "no value": erasing a field is asked for with null, and audited by the
field's name (never its value); "" or a blank text for a field is refused with `empty_value`, on
an admin's correction and on a person's own profile."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from amanat.audit.models import AuditRecord
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.people.personal_data import PersonData, read_person
from amanat.people.registry import update_person
from amanat.supervision.corrections import AUDIT_ACTION
from tests.support.identity import STRONG_PASSWORD, Person, load_user, sign_in

pytestmark = [pytest.mark.asvs("V8.2.2"), pytest.mark.policy("§4 access controls")]

HINA = {
    "username": "hina-newcomer",
    "full_name": "Hina Newcomer",
    "email": "hina@example.com",
    "phone": "0300-1234567",
    "cnic": "35202-1234567-1",
}


async def _person(database: Database, ring: MasterKeyring, user_id: str) -> PersonData:
    user = await load_user(database, user_id)
    assert user.person_id is not None
    async with database.sessionmaker() as session:
        return await read_person(session, ring, user.person_id)


async def _records(database: Database, action: str) -> list[dict[str, object]]:
    async with database.sessionmaker() as session:
        rows = await session.scalars(select(AuditRecord).where(AuditRecord.action == action))
        return [json.loads(row.details) for row in rows]


@pytest.mark.parametrize(
    "change",
    [
        {"cnic": ""},
        {"cnic": "   "},
        {"phone": ""},
        {"phone": "\t"},
        {"full_name": ""},
        {"cnic": "", "phone": "0321 7654321"},
    ],
)
async def test_an_empty_value_is_refused_and_erases_nothing(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    admin_a: Person,
    change: dict[str, str],
) -> None:
    await sign_in(client, admin_a, database)
    created = await client.post("/api/v1/users", json=HINA)
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    refused = await client.patch(f"/api/v1/users/{user_id}/personal-data", json=change)
    assert refused.status_code == 422, refused.text
    body = refused.json()
    empty = next(name for name, value in change.items() if not value.strip())
    assert (body["code"], body["field"]) == ("empty_value", empty)
    assert "null" in body["detail"]
    person = await _person(database, test_keyring, user_id)
    assert (person.full_name, person.phone, person.cnic) == (
        "Hina Newcomer",
        "+923001234567",
        "3520212345671",
    )
    assert await _records(database, AUDIT_ACTION) == []


async def test_null_erases_and_the_audit_names_the_field_not_the_value(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    admin_a: Person,
) -> None:
    await sign_in(client, admin_a, database)
    created = await client.post("/api/v1/users", json=HINA)
    user_id = created.json()["id"]
    erased = await client.patch(
        f"/api/v1/users/{user_id}/personal-data",
        json={"cnic": None, "phone": None, "reason": "user_request"},
    )
    assert erased.status_code == 200, erased.text
    assert erased.json()["changed"] == ["phone", "cnic"]
    person = await _person(database, test_keyring, user_id)
    assert (person.phone, person.cnic) == (None, None)
    (details,) = await _records(database, AUDIT_ACTION)
    assert details["cleared"] == "phone,cnic"
    text = json.dumps(details)
    for value in ("3520212345671", "35202", "1234567", "+923001234567"):
        assert value not in text


def test_the_openapi_document_says_how_to_erase(app: FastAPI) -> None:
    schemas = app.openapi()["components"]["schemas"]
    correction = schemas["PersonalDataCorrectionIn"]["properties"]
    assert "null removes" in correction["cnic"]["description"]
    assert "empty_value" in correction["cnic"]["description"]
    profile = schemas["ProfileIn"]["properties"]
    assert "null removes" in profile["phone"]["description"]
    assert "empty_value" in profile["phone"]["description"]


@pytest.mark.parametrize("body", [{"phone": ""}, {"phone": " "}, {"email": ""}])
async def test_the_profile_refuses_an_empty_value_and_keeps_the_phone(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    member_a: Person,
    body: dict[str, str],
) -> None:
    user = await load_user(database, member_a.user_id)
    assert user.person_id is not None
    async with database.sessionmaker() as session:
        await update_person(session, test_keyring, user.person_id, phone="0300 1234567")
        await session.commit()
    await sign_in(client, member_a, database)
    refused = await client.put(
        "/api/v1/me/profile", json={**body, "current_password": STRONG_PASSWORD}
    )
    assert refused.status_code == 422, refused.text
    assert (refused.json()["code"], refused.json()["field"]) == ("empty_value", next(iter(body)))
    person = await _person(database, test_keyring, member_a.user_id)
    assert person.phone == "+923001234567"
    removed = await client.put(
        "/api/v1/me/profile", json={"phone": None, "current_password": STRONG_PASSWORD}
    )
    assert removed.status_code == 200, removed.text
    assert removed.json()["phone"] is None
    (details,) = await _records(database, "user.profile_update")
    assert details == {"fields": "phone", "cleared": "phone"}


async def test_the_profile_form_still_removes_a_phone_left_blank(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    member_a: Person,
) -> None:
    user = await load_user(database, member_a.user_id)
    assert user.person_id is not None
    async with database.sessionmaker() as session:
        await update_person(session, test_keyring, user.person_id, phone="0300 1234567")
        await session.commit()
    await sign_in(client, member_a, database)
    done = await client.post(
        "/account/profile/contact",
        data={"email": member_a.email, "phone": "", "current_password": STRONG_PASSWORD},
    )
    assert done.status_code == 303, done.text
    person = await _person(database, test_keyring, member_a.user_id)
    assert person.phone is None
