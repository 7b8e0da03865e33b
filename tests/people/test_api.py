"""Personal data over HTTP: an admin invites with the optional fields and sees them masked;
unknown fields are refused; the operator's required fields are enforced; admins search their
own account only, with the value in the body and never in the URL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from amanat.audit.models import AuditRecord
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.settings import Settings
from amanat.web.app import create_app
from tests.support.identity import Person, sign_in

pytestmark = pytest.mark.policy("§4 access controls: admin create users")

ADDRESS = {
    "line1": "House 12, Street 4",
    "line2": "Model Town",
    "city": "Lahore",
    "province": "Punjab",
    "postal_code": "54700",
}


def _invitation(**overrides: Any) -> dict[str, Any]:
    return {
        "username": "hina-newcomer",
        "full_name": "Hina Newcomer",
        "email": "hina@example.com",
        "phone": "0300-1234567",
        "cnic": "35202-1234567-1",
        "address": ADDRESS,
        **overrides,
    }


def _assert_no_values(text: str) -> None:
    for value in ("Hina", "hina@", "1234567", "3001234567", "House 12", "Model Town", "54700"):
        assert value not in text


@pytest.mark.asvs("V14.2.6", "V15.3.1")
@pytest.mark.policy("§1 what we collect")
async def test_invite_with_profile_fields_shows_them_masked(
    client: httpx.AsyncClient, admin_a: Person, database: Database
) -> None:
    await sign_in(client, admin_a, database)
    created = await client.post("/api/v1/users", json=_invitation())
    assert created.status_code == 201, created.text
    body = created.json()
    expected = {
        "full_name": "H. N.",
        "email": "h***@example.com",
        "phone": "+92 3** ****567",
        "cnic": "35202-*******-1",
        "city": "Lahore",
    }
    assert {key: body[key] for key in expected} == expected
    _assert_no_values(created.text)
    shown = await client.get(f"/api/v1/users/{body['id']}")
    assert {key: shown.json()[key] for key in expected} == expected
    _assert_no_values(shown.text)


async def test_invite_without_profile_fields_still_works(
    client: httpx.AsyncClient, admin_a: Person, database: Database
) -> None:
    await sign_in(client, admin_a, database)
    body = _invitation()
    for optional in ("phone", "cnic", "address"):
        del body[optional]
    created = await client.post("/api/v1/users", json=body)
    assert created.status_code == 201, created.text
    assert (created.json()["phone"], created.json()["cnic"], created.json()["city"]) == (
        None,
        None,
        None,
    )


@pytest.mark.asvs("V15.3.3", "V2.2.1")
@pytest.mark.policy("§4 data minimization")
@pytest.mark.parametrize(
    "body",
    [
        _invitation(date_of_birth="1990-01-01"),
        _invitation(address={**ADDRESS, "landmark": "near the mosque"}),
        _invitation(cnic=3520212345671),
    ],
)
async def test_fields_we_do_not_collect_are_refused(
    client: httpx.AsyncClient, admin_a: Person, database: Database, body: dict[str, Any]
) -> None:
    await sign_in(client, admin_a, database)
    refused = await client.post("/api/v1/users", json=body)
    assert refused.status_code == 422
    assert refused.json()["code"] == "invalid_input"
    assert "1990-01-01" not in refused.text
    assert "mosque" not in refused.text


@pytest.mark.asvs("V2.2.1", "V2.1.1")
@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"cnic": "35202-1234567"}, "invalid_cnic", "cnic"),
        ({"phone": "042 35761234"}, "invalid_phone", "phone"),
        ({"address": {**ADDRESS, "postal_code": "547"}}, "invalid_postal_code",
         "address.postal_code"),
        ({"address": {**ADDRESS, "province": "Wessex"}}, "invalid_province", "address.province"),
        ({"address": {**ADDRESS, "country": "QQ"}}, "invalid_country", "address.country"),
    ],
)  # fmt: skip
async def test_invalid_profile_fields_are_named_not_echoed(
    client: httpx.AsyncClient,
    admin_a: Person,
    database: Database,
    overrides: dict[str, Any],
    code: str,
    field: str,
) -> None:
    await sign_in(client, admin_a, database)
    refused = await client.post("/api/v1/users", json=_invitation(**overrides))
    assert refused.status_code == 422, refused.text
    assert (refused.json()["code"], refused.json()["field"]) == (code, field)
    _assert_no_values(refused.text)
    assert "Wessex" not in refused.text


@pytest.mark.asvs("V2.2.1")
async def test_a_cnic_belongs_to_one_person(
    client: httpx.AsyncClient, admin_a: Person, database: Database
) -> None:
    await sign_in(client, admin_a, database)
    first = await client.post("/api/v1/users", json=_invitation())
    assert first.status_code == 201
    second = await client.post(
        "/api/v1/users",
        json=_invitation(username="someone-else", email="else@example.com", cnic="3520212345671"),
    )
    assert second.status_code == 409
    assert (second.json()["code"], second.json()["field"]) == ("cnic_taken", "cnic")
    _assert_no_values(second.text)


@pytest.fixture
async def strict_client(
    tmp_path: Path, database: Database, test_keyring: MasterKeyring
) -> AsyncIterator[httpx.AsyncClient]:
    """A server whose operator requires CNIC and phone for identity verification."""
    strict = Settings(
        data_dir=tmp_path / "strict",
        environment="development",
        require_identity_fields=["cnic", "phone"],
    )
    app = create_app(strict, database=database, keyring=test_keyring)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50002))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
        yield http


@pytest.mark.asvs("V2.2.1")
@pytest.mark.policy("§2 manage the respective customer account: verifying identity")
async def test_operator_required_fields_are_enforced(
    strict_client: httpx.AsyncClient, admin_a: Person, database: Database
) -> None:
    await sign_in(strict_client, admin_a, database)
    without = await strict_client.post("/api/v1/users", json=_invitation(cnic=None))
    assert without.status_code == 422
    assert (without.json()["code"], without.json()["field"]) == ("cnic_required", "cnic")
    blank = await strict_client.post("/api/v1/users", json=_invitation(phone=""))
    assert blank.json()["code"] == "phone_required"
    complete = await strict_client.post("/api/v1/users", json=_invitation(address=None))
    assert complete.status_code == 201, complete.text


def test_required_fields_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMANAT_REQUIRE_IDENTITY_FIELDS", "cnic, Phone,cnic")
    assert Settings().require_identity_fields == ["cnic", "phone"]
    monkeypatch.setenv("AMANAT_REQUIRE_IDENTITY_FIELDS", "")
    assert Settings().require_identity_fields == []
    monkeypatch.setenv("AMANAT_REQUIRE_IDENTITY_FIELDS", "passport")
    with pytest.raises(ValueError, match="require_identity_fields"):
        Settings()


# -- search ------------------------------------------------------------------------------------


async def _invite_hina(client: httpx.AsyncClient) -> str:
    created = await client.post("/api/v1/users", json=_invitation())
    assert created.status_code == 201, created.text
    user_id: str = created.json()["id"]
    return user_id


@pytest.mark.asvs("V8.2.2", "V14.2.6")
@pytest.mark.parametrize(
    "query",
    [
        {"email": "HINA@example.com"},
        {"phone": "+92 300 1234567"},
        {"cnic": "3520212345671"},
        {"cnic": "35202-1234567-1"},
        {"name": "newcomer"},
    ],
)
async def test_admin_finds_own_users_by_each_criterion_masked(
    client: httpx.AsyncClient, admin_a: Person, database: Database, query: dict[str, str]
) -> None:
    await sign_in(client, admin_a, database)
    user_id = await _invite_hina(client)
    found = await client.post("/api/v1/people/search", json=query)
    assert found.status_code == 200, found.text
    assert [row["id"] for row in found.json()] == [user_id]
    assert found.json()[0]["cnic"] == "35202-*******-1"
    _assert_no_values(found.text)
    async with database.sessionmaker() as session:
        details = await session.scalar(
            select(AuditRecord.details)
            .where(AuditRecord.action == "people.search")
            .order_by(AuditRecord.seq.desc())
        )
    assert details is not None
    assert next(iter(query)) in str(details)
    assert next(iter(query.values())) not in str(details)  # audited without the value


@pytest.mark.asvs("V8.2.2")
@pytest.mark.policy("§4 access controls")
async def test_admin_of_another_account_finds_nothing(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    admin_a: Person,
    admin_b: Person,
    member_b: Person,
    database: Database,
) -> None:
    await sign_in(client, admin_a, database)
    await _invite_hina(client)
    await sign_in(second_client, admin_b, database)
    for query in (
        {"email": "hina@example.com"},
        {"cnic": "35202-1234567-1"},
        {"phone": "03001234567"},
        {"name": "Hina"},
    ):
        found = await second_client.post("/api/v1/people/search", json=query)
        assert found.status_code == 200
        assert found.json() == []
    # And A's admin does not find B's member, whom B's admin does find.
    assert (await client.post("/api/v1/people/search", json={"email": member_b.email})).json() == []
    own = await second_client.post("/api/v1/people/search", json={"email": member_b.email})
    assert [row["id"] for row in own.json()] == [member_b.user_id]


@pytest.mark.policy("§4 access controls")
async def test_members_cannot_search(
    client: httpx.AsyncClient, member_a: Person, database: Database
) -> None:
    await sign_in(client, member_a, database)
    refused = await client.post("/api/v1/people/search", json={"name": "khan"})
    assert refused.status_code == 403


@pytest.mark.asvs("V14.2.1")
async def test_search_values_never_travel_in_the_url(
    client: httpx.AsyncClient, admin_a: Person, database: Database
) -> None:
    await sign_in(client, admin_a, database)
    in_url = await client.get("/api/v1/people/search", params={"email": "hina@example.com"})
    assert in_url.status_code == 405
    assert "hina" not in in_url.text


@pytest.mark.asvs("V2.2.1")
@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({}, "invalid_input"),
        ({"email": "a@example.com", "name": "khan"}, "invalid_input"),
        ({"surname": "khan"}, "invalid_input"),
        ({"cnic": "35202-12"}, "invalid_cnic"),
    ],
)
async def test_search_takes_exactly_one_known_criterion(
    client: httpx.AsyncClient, admin_a: Person, database: Database, query: dict[str, str], code: str
) -> None:
    await sign_in(client, admin_a, database)
    refused = await client.post("/api/v1/people/search", json=query)
    assert refused.status_code == 422
    assert refused.json()["code"] == code
