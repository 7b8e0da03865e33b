"""A person chooses the time zone pages show times in (default Asia/Karachi)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
from sqlalchemy import update

from amanat.core.db import Database
from amanat.identity.models import User
from tests.support.identity import Person, load_user, sign_in


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


async def test_a_person_in_london_reads_times_in_london_time_with_the_zone_named(
    client: httpx.AsyncClient, member_a: Person, database: Database
) -> None:
    async with database.sessionmaker() as session:
        await session.execute(
            update(User)
            .where(User.id == member_a.user_id)
            .values(password_changed_at=datetime(2026, 7, 1, 9, 30, tzinfo=UTC))
        )
        await session.commit()
    await sign_in(client, member_a, database)
    client.headers.pop("x-csrf-token")
    page = await client.get("/account")
    assert '<option value="Asia/Karachi" selected>' in page.text
    assert "2026-07-01 14:30 PKT" in page.text
    chosen = await client.post(
        "/account/time-zone", data={"csrf_token": _csrf(page.text), "time_zone": "Europe/London"}
    )
    assert chosen.status_code == 303
    assert chosen.headers["location"] == "/account"
    after = await client.get("/account")
    assert "Times now show in Europe/London." in after.text
    assert '<option value="Europe/London" selected>' in after.text
    assert (
        '<time datetime="2026-07-01T09:30:00Z" title="Europe/London">2026-07-01 10:30 BST</time>'
        in after.text
    )
    assert "Times now show" not in (await client.get("/account")).text  # said once
    assert (await load_user(database, member_a.user_id)).time_zone == "Europe/London"


async def test_an_unknown_zone_is_refused_beside_its_field(
    client: httpx.AsyncClient, member_a: Person, database: Database
) -> None:
    csrf = await sign_in(client, member_a, database)
    client.headers.pop("x-csrf-token")
    refused = await client.post(
        "/account/time-zone", data={"csrf_token": csrf, "time_zone": "Mars/Olympus_Mons"}
    )
    assert refused.status_code == 400
    assert "Choose a time zone from the list." in refused.text
    assert (await load_user(database, member_a.user_id)).time_zone is None


async def test_the_api_sets_and_clears_the_zone(
    client: httpx.AsyncClient, member_a: Person, database: Database
) -> None:
    await sign_in(client, member_a, database)
    assert (await client.get("/api/v1/me")).json()["time_zone"] == "Asia/Karachi"
    set_zone = await client.patch("/api/v1/me", json={"time_zone": "Asia/Dubai"})
    assert set_zone.status_code == 200
    assert set_zone.json()["time_zone"] == "Asia/Dubai"
    unknown = await client.patch("/api/v1/me", json={"time_zone": "Nowhere/Else"})
    assert unknown.status_code == 422
    assert unknown.json()["code"] == "time_zone_unknown"
    assert unknown.headers["content-type"].startswith("application/problem+json")
    cleared = await client.patch("/api/v1/me", json={"time_zone": None})
    assert cleared.json()["time_zone"] == "Asia/Karachi"
    assert (await load_user(database, member_a.user_id)).time_zone is None
