"""A person sees each of their sessions and devices with browser, OS, device type, network and
times, and ends one session or all but the current one (ASVS V7.5.2; policy §1, §3)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from amanat.activity.models import KnownDevice
from amanat.core.clock import utcnow
from amanat.core.db import Database
from amanat.identity.models import UserSession
from tests.activity.helpers import (
    CHROME_WINDOWS,
    SAFARI_IPHONE,
    browser,
    events_of,
    kinds,
    sign_in,
)
from tests.support.identity import Person

pytestmark = [
    pytest.mark.policy("§1 location information"),
    pytest.mark.asvs("V7.5.2"),
]

LAPTOP = "203.0.113.77"
PHONE = "2001:db8:abcd:12::7"


async def test_my_sessions_show_where_each_was_opened(
    app: Any, database: Database, member_a: Person
) -> None:
    async with (
        browser(app, LAPTOP, CHROME_WINDOWS) as laptop,
        browser(app, PHONE, SAFARI_IPHONE) as phone,
    ):
        await sign_in(laptop, member_a, database)
        await sign_in(phone, member_a, database)
        answer = await laptop.get("/api/v1/me/sessions")
        assert answer.status_code == 200
        rows = {row["current"]: row for row in answer.json()}
        assert set(rows) == {True, False}
        mine, other = rows[True], rows[False]
        assert (mine["browser"], mine["browser_version"]) == ("Chrome", "120")
        assert (mine["os"], mine["device_type"]) == ("Windows", "desktop")
        assert mine["ip_network"] == "203.0.113.0/24"
        assert mine["first_seen_at"] == mine["created_at"]
        assert mine["last_seen_at"] >= mine["first_seen_at"]
        assert (other["browser"], other["os"], other["os_version"]) == (
            "Mobile Safari",
            "iOS",
            "17.1",
        )
        assert other["device_type"] == "mobile"
        assert other["ip_network"] == "2001:db8:abcd::/48"
        assert LAPTOP not in answer.text
        assert PHONE not in answer.text

        devices = await phone.get("/api/v1/me/devices")
        assert devices.status_code == 200
        listed = devices.json()
        assert len(listed) == 2
        current = [device for device in listed if device["current"]]
        assert [d["device_type"] for d in current] == ["mobile"]
        assert {d["ip_network"] for d in listed} == {"203.0.113.0/24", "2001:db8:abcd::/48"}
        assert "token" not in devices.text


async def test_ending_one_session_signs_that_browser_out(
    app: Any, database: Database, member_a: Person
) -> None:
    async with (
        browser(app, LAPTOP, CHROME_WINDOWS) as laptop,
        browser(app, PHONE, SAFARI_IPHONE) as phone,
    ):
        await sign_in(laptop, member_a, database)
        await sign_in(phone, member_a, database)
        other = [r for r in (await laptop.get("/api/v1/me/sessions")).json() if not r["current"]]
        assert len(other) == 1
        ended = await laptop.delete(f"/api/v1/me/sessions/{other[0]['id']}")
        assert ended.status_code == 204
        assert (await phone.get("/api/v1/me")).status_code == 401
        assert (await laptop.get("/api/v1/me")).status_code == 200
        again = await laptop.delete(f"/api/v1/me/sessions/{other[0]['id']}")
        assert again.status_code == 404
    assert ("session_revoked", "success") in kinds(await events_of(database, member_a.user_id))


async def test_ending_all_other_sessions_keeps_this_one(
    app: Any, database: Database, member_a: Person
) -> None:
    async with (
        browser(app, LAPTOP, CHROME_WINDOWS) as laptop,
        browser(app, PHONE, SAFARI_IPHONE) as phone,
        browser(app, "198.51.100.9", CHROME_WINDOWS) as desktop,
    ):
        for http in (laptop, phone, desktop):
            await sign_in(http, member_a, database)
        ended = await laptop.post("/api/v1/me/sessions/end-others")
        assert ended.status_code == 200
        assert ended.json() == {"count": 2}
        assert (await phone.get("/api/v1/me")).status_code == 401
        assert (await desktop.get("/api/v1/me")).status_code == 401
        assert (await laptop.get("/api/v1/me")).status_code == 200
        assert len((await laptop.get("/api/v1/me/sessions")).json()) == 1


async def test_the_devices_page_lists_and_ends_sessions_without_javascript(
    app: Any, database: Database, member_a: Person
) -> None:
    async with (
        browser(app, LAPTOP, CHROME_WINDOWS) as laptop,
        browser(app, PHONE, SAFARI_IPHONE) as phone,
    ):
        csrf = await sign_in(laptop, member_a, database)
        await sign_in(phone, member_a, database)
        page = await laptop.get("/account/devices")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "Devices and sessions" in page.text
        assert page.text.count('data-testid="session"') == 2
        assert "Mobile Safari 17" in page.text
        assert "2001:db8:abcd::/48" in page.text
        assert "this session" in page.text
        assert "this device" in page.text
        assert LAPTOP not in page.text
        laptop.headers.pop("x-csrf-token")
        assert 'href="/account/sessions/end-others"' in page.text
        unconfirmed = await laptop.post(
            "/account/sessions/end-others", data={"csrf_token": csrf}, follow_redirects=False
        )
        assert unconfirmed.status_code == 422  # only through its confirmation page
        confirm = await laptop.get("/account/sessions/end-others")
        assert 'name="confirmed" value="yes"' in confirm.text
        ended = await laptop.post(
            "/account/sessions/end-others",
            data={"csrf_token": csrf, "confirmed": "yes"},
            follow_redirects=False,
        )
        assert ended.status_code == 303
        assert ended.headers["location"] == "/account/devices"
        assert (await phone.get("/api/v1/me")).status_code == 401
        after = await laptop.get("/account/devices")
        assert after.text.count('data-testid="session"') == 1
        assert "Ended 1 other session; this one stays signed in." in after.text


async def test_a_session_is_touched_and_its_device_seen_when_used(
    app: Any, database: Database, member_a: Person
) -> None:
    async with browser(app, LAPTOP, CHROME_WINDOWS) as laptop:
        await sign_in(laptop, member_a, database)
        earlier = utcnow() - timedelta(minutes=5)
        async with database.sessionmaker() as session:
            await session.execute(
                update(UserSession)
                .where(UserSession.user_id == member_a.user_id)
                .values(last_seen_at=earlier)
            )
            await session.execute(
                update(KnownDevice)
                .where(KnownDevice.user_id == member_a.user_id)
                .values(last_seen_at=earlier, last_network="192.0.2.0/24")
            )
            await session.commit()
        assert (await laptop.get("/api/v1/me")).status_code == 200
        (device,) = (await laptop.get("/api/v1/me/devices")).json()
        assert device["ip_network"] == "203.0.113.0/24"
        assert datetime.fromisoformat(device["last_seen_at"]) > earlier + timedelta(minutes=4)
