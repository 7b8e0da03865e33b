"""Every admin door shows the same masked personal data: the user page, the CSV download and the
search page show name, email, phone, CNIC and city exactly as the JSON API does; each sees the
admin's own account only; the search value never travels in a URL."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime

import httpx
import pytest
from sqlalchemy import select

from amanat.access.actors import OPERATOR
from amanat.access.roles import Role
from amanat.audit.models import AuditRecord
from amanat.core.clock import utcnow
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.settings import Settings
from amanat.identity.invitations import invite_user
from amanat.people.export import csv_document, spreadsheet_safe
from tests.support.identity import Person, sign_in

pytestmark = [pytest.mark.asvs("V14.2.6"), pytest.mark.policy("§4 access controls")]

HINA = {
    "full_name": "Hina Newcomer",
    "email": "hina@example.com",
    "phone": "0300-1234567",
    "cnic": "35202-1234567-1",
    "address": {
        "line1": "House 12, Street 4",
        "line2": "Model Town",
        "city": "Lahore",
        "province": "Punjab",
        "postal_code": "54700",
    },
}
MASKED_HINA = {
    "name": "H. N.",
    "email": "h***@example.com",
    "phone": "+92 3** ****567",
    "cnic": "35202-*******-1",
    "city": "Lahore",
}
FULL_VALUES = ("Hina", "hina@", "1234567", "3001234567", "House 12", "Model Town", "54700")


async def _invite(
    database: Database,
    ring: MasterKeyring,
    settings: Settings,
    account_id: str,
    *,
    username: str = "hina-newcomer",
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
            role=Role.MEMBER,
            **fields,  # type: ignore[arg-type]
        )
        await session.commit()
        return user.id


def _assert_no_full_values(text: str) -> None:
    for value in FULL_VALUES:
        assert value not in text, value


def _cell(page: str, name: str) -> str:
    found = re.search(rf'data-testid="{name}">([^<]*)<', page)
    assert found is not None, name
    return found.group(1)


# -- the admin's user page -------------------------------------------------------------------


async def test_the_user_page_shows_phone_cnic_and_city_masked_as_the_api_does(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    admin_a: Person,
) -> None:
    hina = await _invite(database, test_keyring, settings, admin_a.account_id)
    await sign_in(client, admin_a, database)
    page = await client.get(f"/admin/users/{hina}")
    assert page.status_code == 200
    shown = {name: _cell(page.text, name) for name in ("phone", "cnic", "city")}
    assert shown == {"phone": "+92 3** ****567", "cnic": "35202-*******-1", "city": "Lahore"}
    assert "H. N." in page.text
    assert "h***@example.com" in page.text
    _assert_no_full_values(page.text)
    api = (await client.get(f"/api/v1/users/{hina}")).json()
    assert shown == {"phone": api["phone"], "cnic": api["cnic"], "city": api["city"]}


async def test_the_user_page_says_when_no_phone_cnic_or_address_was_given(
    client: httpx.AsyncClient, database: Database, admin_a: Person, member_a: Person
) -> None:
    await sign_in(client, admin_a, database)
    page = (await client.get(f"/admin/users/{member_a.user_id}")).text
    assert [_cell(page, name) for name in ("phone", "cnic", "city")] == ["none given"] * 3


async def test_the_admin_of_another_account_does_not_get_the_user_page(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    admin_a: Person,
    admin_b: Person,
) -> None:
    hina = await _invite(database, test_keyring, settings, admin_a.account_id)
    await sign_in(client, admin_b, database)
    refused = await client.get(f"/admin/users/{hina}")
    assert refused.status_code == 404
    assert "35202" not in refused.text


# -- the CSV download ------------------------------------------------------------------------


def _rows(response: httpx.Response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.text)))


async def test_admins_download_their_users_as_masked_csv(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    admin_a: Person,
    member_a: Person,
) -> None:
    await _invite(database, test_keyring, settings, admin_a.account_id)
    await sign_in(client, admin_a, database)
    download = await client.get("/api/v1/people/export.csv")
    assert download.status_code == 200, download.text
    assert download.headers["content-type"] == "text/csv; charset=utf-8"
    assert download.headers["content-disposition"] == (
        f'attachment; filename="amanat-users-{utcnow():%Y%m%d}.csv"'
    )
    assert download.headers["cache-control"] == "no-store"
    assert download.text.splitlines()[0] == (
        "username,status,role,last_sign_in,name,email,phone,cnic,city"
    )
    assert download.text.endswith("\r\n")
    rows = {row["username"]: row for row in _rows(download)}
    assert set(rows) == {"admin-a", "member-a", "hina-newcomer"}
    hina = rows["hina-newcomer"]
    assert (hina["status"], hina["role"], hina["last_sign_in"]) == ("invited", "member", "")
    assert {key: hina[key] for key in MASKED_HINA} == {
        **MASKED_HINA,
        "phone": "'+92 3** ****567",  # a leading + is a formula to a spreadsheet
    }
    signed_in = datetime.strptime(rows["admin-a"]["last_sign_in"], "%Y-%m-%dT%H:%M:%SZ")
    assert signed_in.date() == utcnow().date()
    assert rows["member-a"]["name"] == "B. M."
    assert (rows["member-a"]["phone"], rows["member-a"]["city"]) == ("", "")
    _assert_no_full_values(download.text)


async def test_the_download_is_audited_without_values(
    client: httpx.AsyncClient, database: Database, admin_a: Person, member_a: Person
) -> None:
    await sign_in(client, admin_a, database)
    assert (await client.get("/api/v1/people/export.csv")).status_code == 200
    async with database.sessionmaker() as session:
        record = await session.scalar(
            select(AuditRecord).where(AuditRecord.action == "users.export")
        )
    assert record is not None
    assert (record.actor_id, record.account_id) == (admin_a.user_id, admin_a.account_id)
    assert '"rows":2' in record.details.replace(" ", "")


@pytest.mark.asvs("V8.2.2")
async def test_the_admin_of_another_account_downloads_only_their_own(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    admin_a: Person,
    admin_b: Person,
    member_b: Person,
) -> None:
    await _invite(database, test_keyring, settings, admin_a.account_id)
    await sign_in(client, admin_b, database)
    download = await client.get("/api/v1/people/export.csv")
    assert download.status_code == 200
    assert {row["username"] for row in _rows(download)} == {"admin-b", "member-b"}
    assert "Lahore" not in download.text


async def test_members_cannot_download(
    client: httpx.AsyncClient, database: Database, member_a: Person
) -> None:
    await sign_in(client, member_a, database)
    refused = await client.get("/api/v1/people/export.csv")
    assert refused.status_code == 403
    assert "text/csv" not in refused.headers["content-type"]


@pytest.mark.asvs("V1.2.10")
async def test_cells_a_spreadsheet_would_run_are_escaped(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    admin_a: Person,
) -> None:
    await _invite(
        database,
        test_keyring,
        settings,
        admin_a.account_id,
        username="mallory",
        full_name="=Eve +Mallory",
        email="mallory@example.com",
        phone=None,
        cnic=None,
        address={"line1": "x", "city": '=HYPERLINK("http://evil.example","x")', "country": "GB"},
    )
    await _invite(
        database,
        test_keyring,
        settings,
        admin_a.account_id,
        username="trudy",
        full_name="@Trudy -Tester",
        email="trudy@example.com",
        phone=None,
        cnic=None,
        address={"line1": "x", "city": "@SUM(1+1)", "country": "GB"},
    )
    await sign_in(client, admin_a, database)
    rows = {row["username"]: row for row in _rows(await client.get("/api/v1/people/export.csv"))}
    assert (rows["mallory"]["name"], rows["mallory"]["city"]) == (
        "'=. +.",
        '\'=HYPERLINK("http://evil.example","x")',
    )
    assert (rows["trudy"]["name"], rows["trudy"]["city"]) == ("'@. -.", "'@SUM(1+1)")


@pytest.mark.asvs("V1.2.10")
@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r", "\0"])
def test_every_formula_start_is_prefixed_with_a_quote(start: str) -> None:
    assert spreadsheet_safe(f"{start}1+1") == f"'{start}1+1"


def test_plain_cells_are_left_alone_and_quoted_as_rfc_4180_says() -> None:
    assert spreadsheet_safe("Lahore") == "Lahore"
    assert spreadsheet_safe("a=b") == "a=b"
    document = csv_document(("a", "b"), [('say "hi", then\ngo', None)])
    assert document == 'a,b\r\n"say ""hi"", then\ngo",\r\n'


async def test_the_users_page_links_to_the_download_and_the_search(
    client: httpx.AsyncClient, database: Database, admin_a: Person
) -> None:
    await sign_in(client, admin_a, database)
    page = (await client.get("/admin/users")).text
    assert 'href="/api/v1/people/export.csv"' in page
    assert 'href="/admin/people/search"' in page


# -- the search page -------------------------------------------------------------------------

URL_ATTRIBUTES = re.compile(r'(?:href|action|src|formaction)="([^"]*)"')


async def _search(
    client: httpx.AsyncClient, csrf: str, criterion: str, value: str
) -> httpx.Response:
    return await client.post(
        "/admin/people/search",
        data={"criterion": criterion, "value": value, "csrf_token": csrf},
    )


@pytest.mark.asvs("V14.2.1")
@pytest.mark.parametrize(
    ("criterion", "value"),
    [
        ("email", "HINA@example.com"),
        ("phone", "0300 1234567"),
        ("cnic", "35202-1234567-1"),
        ("name", "newcomer"),
    ],
)
async def test_the_search_page_finds_own_users_masked_and_keeps_the_value_out_of_urls(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    admin_a: Person,
    criterion: str,
    value: str,
) -> None:
    hina = await _invite(database, test_keyring, settings, admin_a.account_id)
    csrf = await sign_in(client, admin_a, database)
    form = await client.get("/admin/people/search")
    assert form.status_code == 200
    assert re.search(r'<form method="post" action="/admin/people/search"', form.text)
    assert f'name="csrf_token" value="{csrf}"' in form.text

    found = await _search(client, csrf, criterion, value)
    assert found.status_code == 200, found.text
    assert found.history == []  # answered in place, not redirected to a URL with the value
    assert value not in str(found.url)
    assert f'href="/admin/users/{hina}">hina-newcomer</a>' in found.text
    for masked in MASKED_HINA.values():
        assert masked in found.text
    assert found.headers["cache-control"] == "no-store"
    links = URL_ATTRIBUTES.findall(found.text)
    assert links
    for link in links:
        assert value.lower() not in link.lower()
        assert "1234567" not in link
    async with database.sessionmaker() as session:
        details = await session.scalar(
            select(AuditRecord.details)
            .where(AuditRecord.action == "people.search")
            .order_by(AuditRecord.seq.desc())
        )
    assert details is not None
    assert criterion in details
    assert value not in details


async def test_the_search_page_needs_the_form_token(
    client: httpx.AsyncClient, database: Database, admin_a: Person
) -> None:
    await sign_in(client, admin_a, database)
    client.headers.pop("x-csrf-token")
    forged = await client.post(
        "/admin/people/search", data={"criterion": "name", "value": "member"}
    )
    assert forged.status_code == 403
    assert "did not come from this site" in forged.text


async def test_the_search_page_finds_nobody_in_another_account(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    admin_a: Person,
    admin_b: Person,
) -> None:
    await _invite(database, test_keyring, settings, admin_a.account_id)
    csrf = await sign_in(client, admin_b, database)
    found = await _search(client, csrf, "cnic", "35202-1234567-1")
    assert found.status_code == 200
    assert "Nobody in your account matches." in found.text
    assert "hina-newcomer" not in found.text


async def test_the_search_page_explains_a_malformed_value(
    client: httpx.AsyncClient, database: Database, admin_a: Person
) -> None:
    csrf = await sign_in(client, admin_a, database)
    refused = await _search(client, csrf, "cnic", "35202-12")
    assert refused.status_code == 422
    assert 'role="alert"' in refused.text
    unknown = await _search(client, csrf, "passport", "AB123")
    assert unknown.status_code == 422


async def test_members_get_no_search_page(
    client: httpx.AsyncClient, database: Database, member_a: Person
) -> None:
    csrf = await sign_in(client, member_a, database)
    assert (await client.get("/admin/people/search")).status_code == 403
    assert (await _search(client, csrf, "name", "member")).status_code == 403
