"""Devices stay recognised and their records and mails stay bounded: signing out keeps the device
cookie, a browser that comes back without it on the same network is the same device, and a burst
of sign-ins from unseen devices mails the person a few times an hour, not once per sign-in."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from amanat.access.roles import Role
from amanat.activity import devices
from amanat.activity.alerts import NEW_DEVICE_CATEGORY
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.settings import Settings
from tests.activity.helpers import (
    CHROME_WINDOWS,
    FIREFOX_LINUX,
    browser,
    devices_of,
    events_of,
    queued_mails,
    sign_in,
)
from tests.support.identity import Person, make_user

pytestmark = [pytest.mark.policy("§3 automatic data collection")]

HOME = "203.0.113.77"
OFFICE = "198.51.100.23"


@pytest.fixture
async def omar(
    database: Database, test_keyring: MasterKeyring, settings: Settings, account_a: str
) -> Person:
    return await make_user(
        database,
        test_keyring,
        settings,
        account_id=account_a,
        username="omar",
        role=Role.MEMBER,
        mfa=False,
    )


def _as_a_browser_would(response: httpx.Response, http: httpx.AsyncClient) -> None:
    """Obey `Clear-Site-Data` as a browser does (httpx does not)."""
    if "cookies" in response.headers.get("clear-site-data", ""):
        http.cookies.clear()


async def test_signing_out_keeps_the_device_so_the_next_sign_in_is_not_new(
    app: Any, database: Database, test_keyring: MasterKeyring, omar: Person
) -> None:
    async with browser(app, HOME, CHROME_WINDOWS) as laptop:
        await sign_in(laptop, omar, database)
        out = await laptop.delete("/api/v1/session")
        assert out.status_code == 204
        _as_a_browser_would(out, laptop)
        assert "__Host-amanat_session" not in laptop.cookies
        assert "__Host-amanat_device" in laptop.cookies
        # The laptop moves to the office: only the cookie can recognise it there.
        transport = httpx.ASGITransport(app=app, client=(OFFICE, 50123))
        laptop._transport = transport
        await sign_in(laptop, omar, database)
    assert len(await devices_of(database, omar.user_id)) == 1
    assert await queued_mails(database, test_keyring, NEW_DEVICE_CATEGORY) == []


async def test_the_same_browser_without_its_cookie_on_the_same_network_is_the_same_device(
    app: Any, database: Database, test_keyring: MasterKeyring, omar: Person
) -> None:
    async with browser(app, HOME, CHROME_WINDOWS) as laptop:
        await sign_in(laptop, omar, database)
        first = laptop.cookies["__Host-amanat_device"]
    for _ in range(12):  # a script, or a private window: never any cookie
        async with browser(app, "203.0.113.5", CHROME_WINDOWS) as script:
            await sign_in(script, omar, database)
            reissued = script.cookies["__Host-amanat_device"]
            assert reissued != first
    (device,) = await devices_of(database, omar.user_id)
    assert device.last_network == "203.0.113.0/24"
    assert await queued_mails(database, test_keyring, NEW_DEVICE_CATEGORY) == []
    # The cookie it was given last is the device's now.
    async with browser(app, OFFICE, CHROME_WINDOWS) as again:
        again.cookies.set("__Host-amanat_device", reissued)
        await sign_in(again, omar, database)
    assert len(await devices_of(database, omar.user_id)) == 1
    # Another browser on that network is still another device.
    async with browser(app, HOME, FIREFOX_LINUX) as other:
        await sign_in(other, omar, database)
    assert len(await devices_of(database, omar.user_id)) == 2
    assert len(await queued_mails(database, test_keyring, NEW_DEVICE_CATEGORY)) == 1


async def test_a_burst_of_unseen_devices_makes_bounded_rows_and_mails(
    app: Any,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    omar: Person,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(devices, "MAX_DEVICES_PER_USER", 5)
    async with browser(app, HOME, CHROME_WINDOWS) as laptop:
        await sign_in(laptop, omar, database)  # the first sign-in: quiet
    scripted = 10
    for n in range(scripted):  # each from another network, without the cookie
        async with browser(app, f"192.0.{n}.9", CHROME_WINDOWS) as script:
            await sign_in(script, omar, database)
    mails = await queued_mails(database, test_keyring, NEW_DEVICE_CATEGORY)
    # The cap counts the new devices of the past hour, the quiet first one included.
    assert settings.activity_new_device_mails_per_hour == 3
    assert len(mails) == 2
    assert len(await devices_of(database, omar.user_id)) == 5
    # Every new device is still in the history.
    news = [e for e in await events_of(database, omar.user_id) if e.kind == "new_device"]
    assert len(news) == scripted + 1
