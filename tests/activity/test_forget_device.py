"""A person forgets one of their devices, after a confirmation page; forgetting the browser in
hand drops its device cookie too. Another person's device is "not found"."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from amanat.activity.context import DEVICE_COOKIE
from amanat.core.db import Database
from tests.activity.helpers import CHROME_WINDOWS, SAFARI_IPHONE, browser, devices_of, sign_in
from tests.support.identity import Person

pytestmark = pytest.mark.policy("§1 location information")


def _device_ids(html: str) -> list[str]:
    return re.findall(r'data-testid="device" data-device-id="([^"]+)"', html)


async def test_forgetting_a_device_goes_through_a_confirmation_page(
    app: Any, database: Database, member_a: Person
) -> None:
    async with (
        browser(app, "203.0.113.7", CHROME_WINDOWS) as laptop,
        browser(app, "198.51.100.9", SAFARI_IPHONE) as phone,
    ):
        csrf = await sign_in(laptop, member_a, database)
        await sign_in(phone, member_a, database, code_step=1)
        laptop.headers.pop("x-csrf-token")
        page = await laptop.get("/account/devices")
        assert page.text.count("Forget this device") == 2
        [phone_row] = [d for d in await devices_of(database, member_a.user_id) if d.os == "iOS"]
        assert phone_row.id in _device_ids(page.text)

        confirm = await laptop.get(f"/account/devices/{phone_row.id}/forget")
        assert confirm.status_code == 200
        assert "counts as a new device" in confirm.text
        unconfirmed = await laptop.post(
            f"/account/devices/{phone_row.id}/forget", data={"csrf_token": csrf}
        )
        assert unconfirmed.status_code == 422
        assert len(await devices_of(database, member_a.user_id)) == 2
        done = await laptop.post(
            f"/account/devices/{phone_row.id}/forget",
            data={"csrf_token": csrf, "confirmed": "yes"},
        )
        assert done.status_code == 303
        assert done.headers["location"] == "/account/devices"
        assert DEVICE_COOKIE not in done.headers.get("set-cookie", "")  # not this browser's
        after = await laptop.get("/account/devices")
        assert "Device forgotten: Mobile Safari on iOS" in after.text
        assert phone_row.id not in _device_ids(after.text)
        reload = await laptop.get("/account/devices")
        assert "Device forgotten" not in reload.text

        [mine] = await devices_of(database, member_a.user_id)
        this_one = await laptop.get(f"/account/devices/{mine.id}/forget")
        assert "it forgets its device cookie too" in this_one.text
        dropped = await laptop.post(
            f"/account/devices/{mine.id}/forget", data={"csrf_token": csrf, "confirmed": "yes"}
        )
        assert dropped.status_code == 303
        assert f'{DEVICE_COOKIE}=""' in dropped.headers["set-cookie"]
        assert DEVICE_COOKIE not in laptop.cookies
        assert await devices_of(database, member_a.user_id) == []


async def test_the_api_forgets_my_device_and_not_another_persons(
    app: Any, client: httpx.AsyncClient, database: Database, member_a: Person, admin_b: Person
) -> None:
    async with browser(app, "203.0.113.7", CHROME_WINDOWS) as laptop:
        await sign_in(laptop, member_a, database)
        [device] = await devices_of(database, member_a.user_id)
        await sign_in(client, admin_b, database)
        assert (await client.delete(f"/api/v1/me/devices/{device.id}")).status_code == 404
        assert (await client.get(f"/account/devices/{device.id}/forget")).status_code == 404
        client.headers.pop("x-csrf-token")
        csrf = (await client.get("/api/v1/me")).json()["csrf_token"]
        refused = await client.post(
            f"/account/devices/{device.id}/forget", data={"csrf_token": csrf, "confirmed": "yes"}
        )
        assert refused.status_code == 404
        assert len(await devices_of(database, member_a.user_id)) == 1
        gone = await laptop.delete(f"/api/v1/me/devices/{device.id}")
        assert gone.status_code == 204
        assert DEVICE_COOKIE not in laptop.cookies
        assert await devices_of(database, member_a.user_id) == []
        assert (await laptop.delete(f"/api/v1/me/devices/{device.id}")).status_code == 404
