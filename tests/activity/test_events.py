"""Every security-relevant step of a known user is recorded with its time, network, browser,
OS and device type, and the outcome (ASVS V16.3.1); the raw user agent never is (policy §4)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from amanat.access.actors import OPERATOR
from amanat.activity.models import KnownDevice, SecurityEvent
from amanat.core.clock import utcnow
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.settings import Settings
from amanat.identity.user_management import reset_user_mfa, unlock_user
from amanat.web.app import create_app
from tests.activity.helpers import (
    CHROME_WINDOWS,
    browser,
    clear_signin_delays,
    events_of,
    kinds,
    sign_in,
)
from tests.support.identity import Person, forget_used_totp_steps, next_totp

pytestmark = [pytest.mark.policy("§3 automatic data collection"), pytest.mark.asvs("V16.3.1")]

ADDRESS = "203.0.113.77"
MARKED_AGENT = CHROME_WINDOWS + " AmanatMarker/9.9 (secret-build-7f3a)"


async def test_sign_in_steps_failures_and_sign_out_are_recorded(
    app: Any, database: Database, member_a: Person
) -> None:
    started = utcnow()
    async with browser(app, ADDRESS, CHROME_WINDOWS) as http:
        wrong = await http.post(
            "/api/v1/session", json={"login": member_a.username, "password": "not it at all"}
        )
        assert wrong.status_code == 401
        first = await http.post(
            "/api/v1/session", json={"login": member_a.username, "password": member_a.password}
        )
        http.headers["x-csrf-token"] = first.json()["csrf_token"]
        assert member_a.totp_secret is not None
        bad = await http.post("/api/v1/session/second-factor", json={"code": "000000"})
        assert bad.status_code == 401
        await forget_used_totp_steps(database, member_a.user_id)
        good = await http.post(
            "/api/v1/session/second-factor", json={"code": next_totp(member_a.totp_secret, 0)}
        )
        assert good.status_code == 200
        http.headers["x-csrf-token"] = good.json()["csrf_token"]
        assert (await http.delete("/api/v1/session")).status_code == 204

    events = await events_of(database, member_a.user_id, since=started)
    assert kinds(events) == [
        ("signin", "failure"),
        ("signin", "success"),
        ("mfa", "failure"),
        ("mfa", "success"),
        ("new_device", "success"),
        ("signout", "success"),
    ]
    for event in events:
        assert event.account_id == member_a.account_id
        assert (event.ip, event.network) == (ADDRESS, "203.0.113.0/24")
        assert (event.browser, event.browser_version) == ("Chrome", "120")
        assert (event.os, event.os_version, event.device_type) == ("Windows", "10", "desktop")
    completed = next(e for e in events if e.kind == "mfa" and e.outcome == "success")
    assert completed.session_id is not None
    assert completed.device_id is not None
    assert events[-1].session_id == completed.session_id


async def test_failures_against_unknown_logins_are_not_recorded(
    client: httpx.AsyncClient, database: Database
) -> None:
    answer = await client.post(
        "/api/v1/session", json={"login": "nobody-at-all", "password": "whatever it is"}
    )
    assert answer.status_code == 401
    async with database.sessionmaker() as session:
        assert (await session.scalars(select(SecurityEvent))).all() == []


async def test_password_change_lock_unlock_and_mfa_changes_are_recorded(
    app: Any,
    database: Database,
    member_a: Person,
    settings: Settings,
    test_keyring: MasterKeyring,
) -> None:
    started = utcnow()
    async with browser(app, ADDRESS, CHROME_WINDOWS) as http:
        await sign_in(http, member_a, database)
        changed = await http.post(
            "/api/v1/me/password",
            json={
                "current_password": member_a.password,
                "new_password": "a brand new passphrase for tests",
                "end_other_sessions": True,
            },
        )
        assert changed.status_code == 200, changed.text
    async with browser(app, "198.51.100.4", CHROME_WINDOWS) as http:
        for _ in range(settings.signin_lock_failures):
            await clear_signin_delays(database)
            await http.post(
                "/api/v1/session", json={"login": member_a.username, "password": "wrong again"}
            )
    async with database.sessionmaker() as session:
        await unlock_user(session, test_keyring, OPERATOR, member_a.user_id)
        await reset_user_mfa(session, test_keyring, OPERATOR, member_a.user_id)
        await session.commit()

    recorded = kinds(await events_of(database, member_a.user_id, since=started))
    assert ("password_change", "success") in recorded
    assert ("lock", "success") in recorded
    assert recorded.count(("signin", "failure")) == settings.signin_lock_failures
    assert recorded[-2:] == [("unlock", "success"), ("mfa_change", "success")]
    # What an admin did is in the user's history without the admin's address or browser.
    admin_done = (await events_of(database, member_a.user_id))[-1]
    assert (admin_done.ip, admin_done.browser) == (None, None)


async def test_no_raw_user_agent_is_stored_anywhere(
    app: Any, database: Database, member_a: Person
) -> None:
    async with browser(app, ADDRESS, MARKED_AGENT) as http:
        await sign_in(http, member_a, database)
        assert (await http.get("/api/v1/me/devices")).status_code == 200
    async with database.sessionmaker() as session:
        values = [
            str(value)
            for model in (SecurityEvent, KnownDevice)
            for row in (await session.execute(select(model.__table__))).all()
            for value in row
        ]
    assert values
    assert "Chrome" in values
    for fragment in ("AmanatMarker", "secret-build", "Mozilla", "AppleWebKit", "KHTML"):
        assert not any(fragment in value for value in values)


async def test_with_capture_switched_off_nothing_about_the_client_is_kept(
    settings: Settings, database: Database, test_keyring: MasterKeyring, member_a: Person
) -> None:
    started = utcnow()
    quiet = settings.model_copy(update={"activity_capture": False})
    app = create_app(quiet, database=database, keyring=test_keyring)
    async with browser(app, ADDRESS, CHROME_WINDOWS) as http:
        await sign_in(http, member_a, database)
        assert "__Host-amanat_device" not in http.cookies
    events = await events_of(database, member_a.user_id, since=started)
    assert kinds(events) == [("signin", "success"), ("mfa", "success")]
    assert all(e.ip is None and e.browser is None and e.device_type is None for e in events)
    async with database.sessionmaker() as session:
        assert (await session.scalars(select(KnownDevice))).all() == []
