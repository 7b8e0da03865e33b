"""Admins see their users' sessions, devices and sign-in history, and a chart of sign-ins and
failures per day for their account; nothing of another account (policy §4 "Admin create users
and supervise them"; ASVS V7.4.5, V8.2.2, V16.3.1)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from amanat.core.clock import utcnow
from amanat.core.db import Database
from tests.activity.helpers import CHROME_WINDOWS, FIREFOX_LINUX, SAFARI_IPHONE, browser, sign_in
from tests.support.identity import Person

pytestmark = [
    pytest.mark.policy("§4 access controls: admin create users and supervise them"),
    pytest.mark.policy("§1 location information"),
]

MEMBER_ADDRESS = "203.0.113.77"
ACTIVITY_ENDPOINTS = (
    "/api/v1/users/{id}/sessions",
    "/api/v1/users/{id}/devices",
    "/api/v1/users/{id}/signins",
)


async def _member_activity(app: Any, database: Database, member: Person) -> None:
    async with browser(app, MEMBER_ADDRESS, SAFARI_IPHONE) as phone:
        wrong = await phone.post(
            "/api/v1/session", json={"login": member.username, "password": "not the password"}
        )
        assert wrong.status_code == 401
        await sign_in(phone, member, database)


@pytest.mark.asvs("V7.4.5", "V16.3.1")
async def test_an_admin_sees_a_users_sessions_devices_and_history(
    app: Any, database: Database, admin_a: Person, member_a: Person
) -> None:
    await _member_activity(app, database, member_a)
    async with browser(app, "198.51.100.4", CHROME_WINDOWS) as admin:
        await sign_in(admin, admin_a, database)
        base = f"/api/v1/users/{member_a.user_id}"
        sessions = (await admin.get(f"{base}/sessions")).json()
        assert [(s["browser"], s["device_type"], s["ip_network"]) for s in sessions] == [
            ("Mobile Safari", "mobile", "203.0.113.0/24")
        ]
        devices = (await admin.get(f"{base}/devices")).json()
        assert [(d["os"], d["current"]) for d in devices] == [("iOS", False)]

        history = await admin.get(f"{base}/signins")
        assert history.status_code == 200
        recorded = [(e["kind"], e["outcome"]) for e in history.json()]
        assert ("signin", "failure") in recorded
        assert ("mfa", "success") in recorded
        assert MEMBER_ADDRESS not in history.text  # the network only, as on the page
        failures = (await admin.get(f"{base}/signins", params={"outcome": "failure"})).json()
        assert [(e["kind"], e["ip"], e["ip_network"]) for e in failures] == [
            ("signin", "203.0.113.0/24", "203.0.113.0/24")
        ]
        only_mfa = (await admin.get(f"{base}/signins", params={"kind": "mfa"})).json()
        assert {e["kind"] for e in only_mfa} == {"mfa"}
        future = (utcnow() + timedelta(hours=1)).isoformat()
        later = await admin.get(f"{base}/signins", params={"since": future})
        assert later.json() == []
        earlier = await admin.get(f"{base}/signins", params={"until": future, "limit": 2})
        assert len(earlier.json()) == 2
        refused = await admin.get(f"{base}/signins", params={"kind": "everything"})
        assert refused.status_code == 422

        # And can end them all (the existing supervision action), which the history shows.
        ended = await admin.post(f"{base}/revoke-sessions")
        assert ended.json() == {"count": 1}
        assert (await admin.get(f"{base}/sessions")).json() == []
        latest = (await admin.get(f"{base}/signins")).json()[0]
        assert (latest["kind"], latest["ip"], latest["browser"]) == ("session_revoked", None, None)


async def test_the_admins_user_page_shows_activity_with_filters(
    app: Any, database: Database, admin_a: Person, member_a: Person
) -> None:
    await _member_activity(app, database, member_a)
    async with browser(app, "198.51.100.4", CHROME_WINDOWS) as admin:
        await sign_in(admin, admin_a, database)
        page = await admin.get(f"/admin/users/{member_a.user_id}")
        assert page.status_code == 200
        for text in ("Sign-in history", "Mobile Safari 17", "iOS 17.1", "203.0.113.0/24"):
            assert text in page.text
        assert MEMBER_ADDRESS not in page.text
        filtered = await admin.get(
            f"/admin/users/{member_a.user_id}", params={"outcome": "failure", "kind": "signin"}
        )
        events = filtered.text.split('data-testid="user-events"', 1)[1]
        assert events.count("<tr>") == 2  # the header row and the one failure
        assert "failure" in events


async def test_the_account_chart_counts_sign_ins_and_failures_per_day(
    app: Any,
    database: Database,
    admin_a: Person,
    member_a: Person,
    member_b: Person,
) -> None:
    await _member_activity(app, database, member_a)
    await _member_activity(app, database, member_b)  # another account: not counted
    async with browser(app, "198.51.100.4", CHROME_WINDOWS) as admin:
        await sign_in(admin, admin_a, database)
        counts = (await admin.get("/api/v1/activity/sign-ins-per-day", params={"days": 7})).json()
        assert len(counts) == 7
        today = counts[-1]
        assert today["day"] == utcnow().date().isoformat()
        assert (today["successes"], today["failures"]) == (2, 1)  # member and admin; one wrong
        assert all((c["successes"], c["failures"]) == (0, 0) for c in counts[:-1])

        page = await admin.get("/admin/activity")
        assert page.status_code == 200
        assert page.text.count("<svg") == 1
        assert "<script" not in page.text.split("<svg", 1)[1].split("</svg>", 1)[0]
        assert f"{today['day']}: 2 sign-ins" in page.text
        assert f"{today['day']}: 1 failure" in page.text
        assert 'src="http' not in page.text


async def test_admin_of_one_account_finds_nothing_of_another(
    app: Any, database: Database, admin_a: Person, member_b: Person, admin_b: Person
) -> None:
    await _member_activity(app, database, member_b)
    async with browser(app, "198.51.100.4", CHROME_WINDOWS) as admin:
        await sign_in(admin, admin_a, database)
        for template in ACTIVITY_ENDPOINTS:
            for target in (member_b.user_id, admin_b.user_id, "no-such-user"):
                answer = await admin.get(template.format(id=target))
                assert answer.status_code == 404, (template, answer.text)
                assert answer.json()["code"] == "user_not_found"
        page = await admin.get(f"/admin/users/{member_b.user_id}")
        assert page.status_code == 404


async def test_members_may_not_supervise(
    app: Any, database: Database, member_a: Person, admin_a: Person
) -> None:
    async with browser(app, MEMBER_ADDRESS, FIREFOX_LINUX) as member:
        await sign_in(member, member_a, database)
        for template in ACTIVITY_ENDPOINTS:
            answer = await member.get(template.format(id=admin_a.user_id))
            assert answer.status_code == 403
        assert (await member.get("/api/v1/activity/sign-ins-per-day")).status_code == 403
        assert (await member.get("/admin/activity")).status_code == 403


async def test_api_tokens_with_users_read_may_read_activity(
    app: Any, database: Database, admin_a: Person, member_a: Person
) -> None:
    await _member_activity(app, database, member_a)
    async with browser(app, "198.51.100.4", CHROME_WINDOWS) as admin:
        await sign_in(admin, admin_a, database)
        created = await admin.post(
            "/api/v1/me/api-tokens", json={"name": "siem export", "scopes": ["users:read"]}
        )
        assert created.status_code == 201, created.text
        token = created.json()["token"]
    transport = httpx.ASGITransport(app=app, client=("198.51.100.5", 1))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as program:
        bearer = {"authorization": f"Bearer {token}"}
        history = await program.get(f"/api/v1/users/{member_a.user_id}/signins", headers=bearer)
        assert history.status_code == 200
        assert history.json()
        mine = await program.get("/api/v1/me/devices", headers=bearer)
        assert mine.status_code == 403
