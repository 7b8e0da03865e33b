"""An admin corrects a user's full name, phone, CNIC and address: only for users of their own
account, only with the right to manage them, validated as an invitation is, the person told which
fields changed (never the values), and audited without values."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from amanat.access.actors import OPERATOR, Actor
from amanat.access.roles import Role
from amanat.audit.models import AuditRecord
from amanat.comms.models import OutboxMessage
from amanat.comms.outbox import EmailMessageData, decrypt_message
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.errors import Forbidden, InvalidInput
from amanat.core.settings import Settings
from amanat.identity.invitations import invite_user
from amanat.identity.models import User
from amanat.people.personal_data import PersonData, read_person
from amanat.supervision.corrections import AUDIT_ACTION, correct_personal_data
from tests.support.identity import Person, make_user, sign_in

pytestmark = [pytest.mark.asvs("V8.2.2"), pytest.mark.policy("§4 access controls")]

HINA = {
    "full_name": "Hina Newcomer",
    "email": "hina@example.com",
    "phone": "0300-1234567",
    "cnic": "35202-1234567-1",
    "address": {
        "line1": "House 12, Street 4",
        "city": "Lahore",
        "province": "Punjab",
        "postal_code": "54700",
    },
}
CORRECTED = {
    "full_name": "Hina Qureshi",
    "phone": "0321 7654321",
    "cnic": "42101-7654321-9",
    "address": {
        "line1": "Flat 3, Clifton Block 5",
        "city": "Karachi",
        "province": "Sindh",
        "postal_code": "75600",
    },
}
# Every corrected value, in each form it could be written in.
CORRECTED_VALUES = (
    "Qureshi",
    "7654321",
    "+923217654321",
    "4210176543219",
    "42101-7654321-9",
    "Flat 3",
    "Clifton",
    "75600",
)
BAD_CNIC = "35202-12345-67"


async def _invite(
    database: Database,
    ring: MasterKeyring,
    settings: Settings,
    account_id: str,
    *,
    username: str = "hina-newcomer",
    role: Role = Role.MEMBER,
    **person: object,
) -> str:
    fields = {**HINA, **person}
    async with database.sessionmaker() as session:
        user, _token = await invite_user(
            session,
            ring,
            settings,
            OPERATOR,
            account_id=account_id,
            username=username,
            role=role,
            **fields,  # type: ignore[arg-type]
        )
        await session.commit()
        return user.id


async def _person(database: Database, ring: MasterKeyring, user_id: str) -> PersonData:
    async with database.sessionmaker() as session:
        user = await session.get(User, user_id)
        assert user is not None
        assert user.person_id is not None
        return await read_person(session, ring, user.person_id)


async def _mails(database: Database, ring: MasterKeyring) -> list[EmailMessageData]:
    async with database.sessionmaker() as session:
        rows = await session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.category == "identity.personal_data_corrected"
            )
        )
        return [decrypt_message(ring, row) for row in rows]


async def _corrections(database: Database) -> list[AuditRecord]:
    async with database.sessionmaker() as session:
        rows = await session.scalars(select(AuditRecord).where(AuditRecord.action == AUDIT_ACTION))
        return list(rows)


def _assert_no_values(text: str, values: tuple[str, ...] = CORRECTED_VALUES) -> None:
    for value in values:
        assert value not in text, value


def _cell(page: str, name: str) -> str:
    found = re.search(rf'data-testid="{name}">([^<]*)<', page)
    assert found is not None, name
    return found.group(1)


async def _unchanged(database: Database, ring: MasterKeyring, user_id: str) -> None:
    person = await _person(database, ring, user_id)
    assert (person.full_name, person.phone, person.cnic) == (
        "Hina Newcomer",
        "+923001234567",
        "3520212345671",
    )
    assert await _mails(database, ring) == []
    assert await _corrections(database) == []


# -- the admin of the user's own account -----------------------------------------------------


@pytest.mark.policy("§2 manage the respective customer account: verifying identity")
async def test_the_admin_of_a_corrects_name_phone_cnic_and_address_of_a_member_of_a(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    admin_a: Person,
) -> None:
    hina = await _invite(database, test_keyring, settings, admin_a.account_id)
    await sign_in(client, admin_a, database)
    corrected = await client.patch(
        f"/api/v1/users/{hina}/personal-data",
        json={**CORRECTED, "reason": "identity_verification"},
    )
    assert corrected.status_code == 200, corrected.text
    body = corrected.json()
    assert body["changed"] == ["full_name", "phone", "cnic", "address"]
    shown = {key: body["user"][key] for key in ("full_name", "phone", "cnic", "city", "email")}
    assert shown == {
        "full_name": "H. Q.",
        "phone": "+92 3** ****321",
        "cnic": "42101-*******-9",
        "city": "Karachi",
        "email": "h***@example.com",
    }
    _assert_no_values(corrected.text)

    person = await _person(database, test_keyring, hina)
    assert (person.full_name, person.phone, person.cnic, person.email) == (
        "Hina Qureshi",
        "+923217654321",
        "4210176543219",
        "hina@example.com",  # email is not an admin's to change
    )
    assert person.address is not None
    assert (person.address.line1, person.address.city, person.address.postal_code) == (
        "Flat 3, Clifton Block 5",
        "Karachi",
        "75600",
    )

    # The user page shows the corrected data, masked.
    page = (await client.get(f"/admin/users/{hina}")).text
    assert [_cell(page, name) for name in ("phone", "cnic", "city")] == [
        "+92 3** ****321",
        "42101-*******-9",
        "Karachi",
    ]
    assert "H. Q." in page
    _assert_no_values(page)

    # The person is told which fields changed, at their own address, never the values.
    (mail,) = await _mails(database, test_keyring)
    assert mail.to == "hina@example.com"
    for label in ("full name", "phone number", "CNIC", "postal address"):
        assert f"- your {label}\n" in mail.body
    assert "identity verification" in mail.body
    _assert_no_values(mail.body)
    _assert_no_values(mail.subject)

    # Audited: who, whom, which fields and why; no value.
    (record,) = await _corrections(database)
    assert (record.actor_id, record.account_id, record.target_id) == (
        admin_a.user_id,
        admin_a.account_id,
        hina,
    )
    assert json.loads(record.details) == {
        "full_name": True,
        "phone": True,
        "cnic": True,
        "address": True,
        "reason": "identity_verification",
    }
    _assert_no_values(record.details)


async def test_only_the_fields_that_changed_are_named(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    admin_a: Person,
) -> None:
    hina = await _invite(database, test_keyring, settings, admin_a.account_id)
    await sign_in(client, admin_a, database)
    corrected = await client.patch(
        f"/api/v1/users/{hina}/personal-data",
        json={"cnic": CORRECTED["cnic"], "phone": "+92 300 1234567"},  # the phone on record
    )
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["changed"] == ["cnic"]
    (mail,) = await _mails(database, test_keyring)
    assert "- your CNIC\n" in mail.body
    assert "phone" not in mail.body
    assert "Reason" not in mail.body
    (record,) = await _corrections(database)
    assert json.loads(record.details) == {
        "full_name": False,
        "phone": False,
        "cnic": True,
        "address": False,
    }


async def test_the_user_page_form_corrects_and_shows_values_masked_only(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    admin_a: Person,
) -> None:
    hina = await _invite(database, test_keyring, settings, admin_a.account_id)
    csrf = await sign_in(client, admin_a, database)
    page = (await client.get(f"/admin/users/{hina}")).text
    form = page.split('data-testid="correction-form"', 1)[1].split("</form>", 1)[0]
    assert f'name="csrf_token" value="{csrf}"' in form
    assert "35202-*******-1" in form
    assert "+92 3** ****567" in form
    assert "Lahore" in form
    for full in ("3520212345671", "35202-1234567-1", "1234567", "House 12", "Hina"):
        assert full not in page, full

    client.headers.pop("x-csrf-token")
    forged = await client.post(
        f"/admin/users/{hina}/personal-data", data={"cnic": CORRECTED["cnic"]}
    )
    assert forged.status_code == 403
    address = CORRECTED["address"]
    assert isinstance(address, dict)
    done = await client.post(
        f"/admin/users/{hina}/personal-data",
        data={
            "csrf_token": csrf,
            "cnic": str(CORRECTED["cnic"]),
            "phone": "",  # blank: kept
            **address,
            "reason": "data_error",
        },
    )
    assert done.status_code == 303, done.text  # POST/redirect/GET
    shown = await client.get(done.headers["location"])
    assert "Corrected: CNIC, postal address." in shown.text
    assert [_cell(shown.text, name) for name in ("phone", "cnic", "city")] == [
        "+92 3** ****567",
        "42101-*******-9",
        "Karachi",
    ]
    _assert_no_values(shown.text)
    person = await _person(database, test_keyring, hina)
    assert (person.cnic, person.phone) == ("4210176543219", "+923001234567")
    (record,) = await _corrections(database)
    assert json.loads(record.details)["reason"] == "data_error"


async def test_the_form_shows_a_refusal_beside_itself_without_the_value(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    admin_a: Person,
) -> None:
    hina = await _invite(database, test_keyring, settings, admin_a.account_id)
    csrf = await sign_in(client, admin_a, database)
    refused = await client.post(
        f"/admin/users/{hina}/personal-data", data={"csrf_token": csrf, "cnic": BAD_CNIC}
    )
    assert refused.status_code == 422
    alert = refused.text.split('role="alert">', 1)[1].split("</p>", 1)[0]
    assert "CNIC" in alert
    assert BAD_CNIC not in refused.text
    await _unchanged(database, test_keyring, hina)


# -- who may not -----------------------------------------------------------------------------


async def test_the_admin_of_b_gets_not_found_and_changes_nothing(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    admin_a: Person,
    admin_b: Person,
) -> None:
    hina = await _invite(database, test_keyring, settings, admin_a.account_id)
    csrf = await sign_in(client, admin_b, database)
    api = await client.patch(f"/api/v1/users/{hina}/personal-data", json=CORRECTED)
    assert api.status_code == 404
    page = await client.get(f"/admin/users/{hina}/personal-data")
    assert page.status_code == 404
    form = await client.post(
        f"/admin/users/{hina}/personal-data", data={"csrf_token": csrf, "cnic": "42101-7654321-9"}
    )
    assert form.status_code == 404
    for response in (api, page, form):
        assert "35202" not in response.text
        assert "H. N." not in response.text
    await _unchanged(database, test_keyring, hina)


async def test_a_member_is_refused(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    admin_a: Person,
    member_a: Person,
) -> None:
    hina = await _invite(database, test_keyring, settings, admin_a.account_id)
    await sign_in(client, member_a, database)
    refused = await client.patch(f"/api/v1/users/{hina}/personal-data", json=CORRECTED)
    assert refused.status_code == 403
    assert (await client.get(f"/admin/users/{hina}/personal-data")).status_code == 403
    await _unchanged(database, test_keyring, hina)


@pytest.mark.parametrize("role", [Role.SUPPORT_AGENT, Role.PRIVACY_OFFICER])
async def test_platform_staff_without_staff_management_are_refused(
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    admin_a: Person,
    role: Role,
) -> None:
    staff = await make_user(
        database, test_keyring, settings, account_id=None, username="staff-one", role=role
    )
    colleague = await make_user(
        database, test_keyring, settings, account_id=None, username="staff-two", role=role
    )
    hina = await _invite(database, test_keyring, settings, admin_a.account_id)
    actor = Actor(staff.user_id, staff.account_id, staff.role)
    for target in (hina, colleague.user_id):
        async with database.sessionmaker() as session:
            with pytest.raises(Forbidden):
                await correct_personal_data(
                    session, test_keyring, settings, actor, target, changes={"cnic": None}
                )


async def test_an_admin_corrects_neither_an_owner_nor_themselves(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    admin_a: Person,
) -> None:
    owner = await _invite(
        database, test_keyring, settings, admin_a.account_id, username="owner-a", role=Role.OWNER
    )
    await sign_in(client, admin_a, database)
    refused = await client.patch(f"/api/v1/users/{owner}/personal-data", json={"cnic": None})
    assert (refused.status_code, refused.json()["code"]) == (403, "correction_not_allowed")
    own = await client.patch(
        f"/api/v1/users/{admin_a.user_id}/personal-data", json={"full_name": "Someone Else"}
    )
    assert (own.status_code, own.json()["code"]) == (403, "correction_not_allowed")
    assert (
        'data-testid="correction-form"'
        not in (await client.get(f"/admin/users/{admin_a.user_id}")).text
    )
    await _unchanged(database, test_keyring, owner)


# -- validated as an invitation is -----------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"cnic": BAD_CNIC}, "cnic"),
        ({"phone": "0300-12"}, "phone"),
        ({"full_name": " \u200b "}, "full_name"),
        ({"address": {"line1": "x", "city": "Lahore", "postal_code": "5470"}}, "address"),
    ],
)
async def test_an_invalid_value_is_refused_naming_the_field_not_the_value(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    admin_a: Person,
    body: dict[str, object],
    field: str,
) -> None:
    hina = await _invite(database, test_keyring, settings, admin_a.account_id)
    await sign_in(client, admin_a, database)
    refused = await client.patch(f"/api/v1/users/{hina}/personal-data", json=body)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["field"] == field or problem["field"].startswith(f"{field}.")
    _assert_no_values(refused.text, (BAD_CNIC, "0300-12", "5470"))
    await _unchanged(database, test_keyring, hina)


async def test_a_cnic_registered_to_someone_else_is_a_conflict(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    admin_a: Person,
    admin_b: Person,
) -> None:
    hina = await _invite(database, test_keyring, settings, admin_a.account_id)
    # Unique platform-wide; refused openly when the holder is in the admin's own account.
    await _invite(
        database,
        test_keyring,
        settings,
        admin_a.account_id,
        username="zara",
        full_name="Zara Other",
        email="zara@example.com",
        phone=None,
        cnic=CORRECTED["cnic"],
    )
    await sign_in(client, admin_a, database)
    refused = await client.patch(
        f"/api/v1/users/{hina}/personal-data", json={"cnic": "4210176543219"}
    )
    assert refused.status_code == 409
    assert (refused.json()["code"], refused.json()["field"]) == ("cnic_taken", "cnic")
    _assert_no_values(refused.text)
    await _unchanged(database, test_keyring, hina)


async def test_a_cnic_another_account_holds_is_corrected_as_a_free_one(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    admin_a: Person,
    admin_b: Person,
) -> None:
    """The admin must not learn that account B has this CNIC: the correction answers as for
    a free value (held as a claim; `tests/security/test_cross_tenant_existence.py`)."""
    hina = await _invite(database, test_keyring, settings, admin_a.account_id)
    await _invite(
        database,
        test_keyring,
        settings,
        admin_b.account_id,
        username="zara",
        full_name="Zara Other",
        email="zara@example.com",
        phone=None,
        cnic=CORRECTED["cnic"],
    )
    await sign_in(client, admin_a, database)
    done = await client.patch(f"/api/v1/users/{hina}/personal-data", json={"cnic": "4210176543219"})
    assert done.status_code == 200, done.text
    assert done.json()["changed"] == ["cnic"]
    _assert_no_values(done.text)


@pytest.mark.asvs("V15.3.3")
@pytest.mark.parametrize(
    "body",
    [
        {"email": "new@example.com"},  # changed by the person only, once confirmed
        {"nickname": "Hina"},
        {"address": {"line1": "x", "city": "Lahore", "floor": "2"}},
        {"cnic": "42101-7654321-9", "reason": "because I said so"},
        {},
    ],
)
async def test_unknown_fields_reasons_or_nothing_at_all_are_refused(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    admin_a: Person,
    body: dict[str, object],
) -> None:
    hina = await _invite(database, test_keyring, settings, admin_a.account_id)
    await sign_in(client, admin_a, database)
    refused = await client.patch(f"/api/v1/users/{hina}/personal-data", json=body)
    assert refused.status_code == 422, refused.text
    assert "new@example.com" not in refused.text
    assert "because" not in refused.text
    person = await _person(database, test_keyring, hina)
    assert (person.email, person.cnic) == ("hina@example.com", "3520212345671")
    assert await _corrections(database) == []


@pytest.mark.policy("§2 manage the respective customer account: verifying identity")
async def test_the_operators_required_fields_cannot_be_cleared(
    tmp_path: Path, database: Database, test_keyring: MasterKeyring, admin_a: Person
) -> None:
    strict = Settings(
        data_dir=tmp_path / "strict", environment="development", require_identity_fields=["cnic"]
    )
    hina = await _invite(database, test_keyring, strict, admin_a.account_id)
    actor = Actor(admin_a.user_id, admin_a.account_id, admin_a.role)
    async with database.sessionmaker() as session:
        with pytest.raises(InvalidInput) as refused:
            await correct_personal_data(
                session, test_keyring, strict, actor, hina, changes={"cnic": None}
            )
    assert (refused.value.code, refused.value.extra["field"]) == ("cnic_required", "cnic")
    await _unchanged(database, test_keyring, hina)
