"""Bulk invitation by CSV upload in the web page: a dry run keeps nothing; an import redirects
to its per-row report, which only its reader may open and a reload does not repeat."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from amanat.comms.models import OutboxMessage
from amanat.core.db import Database
from amanat.identity.models import User
from tests.support.identity import Person, sign_in

pytestmark = pytest.mark.policy("§4 access controls: admin create users")

CSV = (
    b"username,full_name,email,cnic\n"
    b"sana-import,Sana Import,sana.import@gmail.com,\n"
    b"omar-import,Omar Import,omar.import@gmail.com,\n"
    b"bad name!,Bad Row,bad.row@gmail.com,\n"
    b"zain-import,Zain Import,zain.import@gmail.com,123\n"
)


async def _count(database: Database) -> tuple[int, int]:
    async with database.sessionmaker() as session:
        users = await session.scalar(select(func.count()).select_from(User))
        mails = await session.scalar(select(func.count()).select_from(OutboxMessage))
        return int(users or 0), int(mails or 0)


async def _upload(
    client: httpx.AsyncClient, csrf: str, mode: str, data: bytes = CSV
) -> httpx.Response:
    return await client.post(
        "/admin/imports",
        data={"csrf_token": csrf, "mode": mode},
        files={"file": ("people.csv", data, "text/csv")},
    )


async def test_the_user_list_links_to_the_upload_page(
    client: httpx.AsyncClient, admin_a: Person, database: Database
) -> None:
    await sign_in(client, admin_a, database)
    assert 'href="/admin/imports"' in (await client.get("/admin/users")).text
    page = await client.get("/admin/imports")
    assert page.status_code == 200
    assert 'enctype="multipart/form-data"' in page.text


async def test_a_dry_run_reports_every_row_and_keeps_nothing(
    client: httpx.AsyncClient, admin_a: Person, database: Database
) -> None:
    csrf = await sign_in(client, admin_a, database)
    before = await _count(database)
    tried = await _upload(client, csrf, "dry-run")
    assert tried.status_code == 200
    assert "Dry run: 2 of 4 rows would be invited; 2 refused." in tried.text
    assert tried.text.count("Would be invited") == 2
    assert "<td>4</td>" in tried.text  # the refused rows by their file line
    assert "<td>username</td>" in tried.text
    assert "sana.import@gmail.com" not in tried.text
    assert await _count(database) == before  # no user, no mail


async def test_an_import_redirects_to_its_report_once(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    admin_a: Person,
    member_a: Person,
    database: Database,
) -> None:
    csrf = await sign_in(client, admin_a, database)
    users_before, mails_before = await _count(database)
    done = await _upload(client, csrf, "import")
    assert done.status_code == 303
    location = done.headers["location"]
    assert location.startswith("/admin/imports/")
    report = await client.get(location)
    assert report.status_code == 200
    assert "Imported 2 users; 2 rows refused" in report.text
    assert "Invited" in report.text
    assert "<td>cnic</td>" in report.text
    assert await _count(database) == (users_before + 2, mails_before + 2)
    # A reload shows the report again and imports nothing more.
    again = await client.get(location)
    assert "<td>cnic</td>" in again.text
    assert await _count(database) == (users_before + 2, mails_before + 2)
    # The report is its reader's alone.
    await sign_in(second_client, member_a, database)
    assert (await second_client.get(location)).status_code in (403, 404)


async def test_a_file_that_is_not_csv_is_refused_with_its_reason(
    client: httpx.AsyncClient, admin_a: Person, database: Database
) -> None:
    csrf = await sign_in(client, admin_a, database)
    before = await _count(database)
    refused = await _upload(client, csrf, "import", b"naam,email\nx,y\n")
    assert refused.status_code == 422
    assert "The header" in refused.text
    assert 'aria-invalid="true"' in refused.text
    assert await _count(database) == before
