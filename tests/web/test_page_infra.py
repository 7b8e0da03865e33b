"""What every page shares: the message an action leaves for the next page (POST/redirect/GET),
the confirmation page of a disruptive action, and times in the reader's zone."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Form, Request
from starlette.responses import Response

from amanat.core.errors import InvalidInput
from amanat.web.confirm import confirmation_page, require_confirmed
from amanat.web.flash import FLASH_COOKIE, redirect_with
from amanat.web.localtime import (
    DEFAULT_TIME_ZONE,
    format_local,
    is_time_zone,
    time_zone_names,
    zone_named,
)
from amanat.web.templating import environment, render

NOON_UTC = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def _with_routes(app: FastAPI) -> FastAPI:
    @app.post("/test/act")
    async def act(note: str = Form("")) -> Response:
        return redirect_with("/test/page", f"Done: {note}")

    @app.get("/test/page")
    async def page(request: Request) -> Response:
        return render(request, "home.html", {})

    @app.get("/test/confirm")
    async def confirm(request: Request) -> Response:
        return confirmation_page(
            request,
            None,
            title="Remove this user",
            consequences=["They are signed out everywhere.", "Their data is kept 30 days."],
            action="/test/act",
            button="Remove",
            back="/test/page",
            subject="علی",
            reasons=[("left", "Left the organisation"), ("other", "Another reason")],
        )

    return app


@pytest.fixture
async def http(bare_app: Any) -> Any:
    transport = httpx.ASGITransport(app=_with_routes(bare_app), client=("127.0.0.1", 1))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        yield client


async def test_an_action_redirects_and_the_next_page_says_what_happened_once(
    http: httpx.AsyncClient,
) -> None:
    answer = await http.post("/test/act", data={"note": "<b>سلام</b>"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/test/page"
    assert FLASH_COOKIE in answer.cookies
    first = await http.get("/test/page")
    assert "Done: &lt;b&gt;سلام&lt;/b&gt;" in first.text  # shown, and escaped
    assert 'role="status"' in first.text
    # The page that showed it drops it: a reload says nothing again.
    assert FLASH_COOKIE not in http.cookies
    again = await http.get("/test/page")
    assert "Done:" not in again.text


async def test_a_forged_or_broken_flash_cookie_is_ignored(http: httpx.AsyncClient) -> None:
    http.cookies.set(FLASH_COOKIE, "%%%not-base64", domain="testserver")
    answer = await http.get("/test/page")
    assert answer.status_code == 200
    assert 'role="status"' not in answer.text


async def test_the_confirmation_page_says_what_will_happen_and_preselects_no_reason(
    http: httpx.AsyncClient,
) -> None:
    page = (await http.get("/test/confirm")).text
    assert "They are signed out everywhere." in page
    assert '<strong dir="auto">علی</strong>' in page
    assert 'name="confirmed" value="yes"' in page
    options = re.findall(r"<option[^>]*>", page)
    assert len(options) == 3
    selected = [option for option in options if "selected" in option]
    assert selected == ['<option value="" selected disabled>']  # a prompt, not a reason
    assert 'href="/test/page"' in page


def test_an_unconfirmed_disruptive_post_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        require_confirmed(None)
    assert refused.value.code == "confirmation_required"
    require_confirmed("yes")


def test_times_show_in_pakistan_by_default_with_the_zone_named() -> None:
    assert format_local(NOON_UTC, zone_named(None)) == "2026-12-02 17:00 PKT"
    assert format_local(NOON_UTC, zone_named("Not/AZone")) == "2026-12-02 17:00 PKT"
    assert format_local(NOON_UTC, zone_named("Europe/London"), "seconds") == (
        "2026-12-02 12:00:00 GMT"
    )
    # A zone without a letter abbreviation is named by its key.
    assert format_local(NOON_UTC, zone_named("Asia/Dubai")) == "2026-12-02 16:00 Asia/Dubai"
    assert format_local(NOON_UTC, zone_named("Asia/Karachi"), "date") == "2026-12-02"


def test_the_filter_uses_the_readers_zone_and_keeps_the_instant() -> None:
    template = environment.from_string("{{ at|localtime }}")
    reader = SimpleNamespace(user=SimpleNamespace(time_zone="America/New_York"))
    html = template.render(at=NOON_UTC, auth=reader)
    assert html == (
        '<time datetime="2026-12-02T12:00:00Z" title="America/New_York">2026-12-02 07:00 EST</time>'
    )
    naive = datetime(2026, 12, 2, 12, 0)  # SQLite hands back naive UTC
    assert "17:00 PKT" in template.render(at=naive, auth=None)
    assert template.render(at=None) == ""


def test_the_zone_list_holds_real_zones_only() -> None:
    names = time_zone_names()
    assert DEFAULT_TIME_ZONE in names
    assert list(names) == sorted(names)
    assert is_time_zone("Europe/London")
    assert not is_time_zone("UTC+5")
    assert not is_time_zone("../../etc/passwd")
