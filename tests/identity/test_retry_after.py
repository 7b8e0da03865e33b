"""Every 429 says when to come back: a `Retry-After` header in seconds, and words for people."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import select

from amanat.core.db import Database
from amanat.core.errors import TooManyRequests
from amanat.identity.models import SigninThrottle
from amanat.identity.recovery import RESET_REQUESTS_PER_ADDRESS
from tests.support.identity import Person, sign_in

pytestmark = pytest.mark.asvs("V2.4.1")

WRONG = "wrong wrong wrong wrong"


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


async def _lock(client: httpx.AsyncClient, database: Database, person: Person) -> None:
    """Ten wrong passwords for `person`, waiting out each delay: the account locks (15 min)."""
    for _ in range(10):
        async with database.sessionmaker() as session:
            for row in (await session.scalars(select(SigninThrottle))).all():
                if row.failures < 10:
                    row.locked_until = None
            await session.commit()
        await client.post("/api/v1/session", json={"login": person.username, "password": WRONG})


def test_waits_are_told_in_words_rounded_up() -> None:
    from amanat.core.errors import wait_in_words

    assert wait_in_words(1) == "1 second"
    assert wait_in_words(45) == "45 seconds"
    assert wait_in_words(60) == "1 minute"
    assert wait_in_words(61) == "2 minutes"
    assert wait_in_words(900) == "15 minutes"
    assert wait_in_words(3599) == "1 hour"
    assert wait_in_words(3600) == "1 hour"
    assert wait_in_words(5400) == "2 hours"
    refusal = TooManyRequests("Too many.", retry_after=90, code="x")
    assert refusal.message == "Too many. Try again in 2 minutes."
    assert refusal.headers == {"Retry-After": "90"}
    assert refusal.extra == {"retry_after": 90}


async def test_a_locked_sign_in_answers_with_retry_after_and_how_long(
    client: httpx.AsyncClient, database: Database, member_a: Person
) -> None:
    await _lock(client, database, member_a)
    locked = await client.post(
        "/api/v1/session", json={"login": member_a.username, "password": member_a.password}
    )
    assert locked.status_code == 429
    assert locked.headers["content-type"].startswith("application/problem+json")
    seconds = int(locked.headers["retry-after"])
    assert 60 < seconds <= 15 * 60
    assert locked.json()["retry_after"] == seconds
    assert locked.json()["detail"] == "Too many failed sign-ins. Try again in 15 minutes."
    assert member_a.username not in locked.text
    assert member_a.email not in locked.text


async def test_a_growing_wait_answers_with_retry_after_in_seconds(
    client: httpx.AsyncClient, member_a: Person
) -> None:
    for _ in range(3):
        await client.post("/api/v1/session", json={"login": member_a.username, "password": WRONG})
    held = await client.post(
        "/api/v1/session", json={"login": member_a.username, "password": WRONG}
    )
    assert held.status_code == 429
    assert held.headers["retry-after"] == "1"
    assert held.json()["detail"].endswith("Try again in 1 second.")


async def test_the_sign_in_page_answers_with_retry_after_and_how_long(
    client: httpx.AsyncClient, database: Database, member_a: Person
) -> None:
    await _lock(client, database, member_a)
    form = await client.get("/signin")
    page = await client.post(
        "/signin",
        data={
            "csrf_token": _csrf(form.text),
            "login": member_a.username,
            "password": member_a.password,
        },
    )
    assert page.status_code == 429
    assert page.headers["content-type"].startswith("text/html")
    assert 60 < int(page.headers["retry-after"]) <= 15 * 60
    assert "Try again in 15 minutes." in page.text


async def test_reset_requests_over_the_limit_answer_with_retry_after(
    client: httpx.AsyncClient,
) -> None:
    for number in range(RESET_REQUESTS_PER_ADDRESS):
        answer = await client.post("/api/v1/password-reset", json={"login": f"someone-{number}"})
        assert answer.status_code == 202
    refused = await client.post("/api/v1/password-reset", json={"login": "someone-else"})
    assert refused.status_code == 429
    seconds = int(refused.headers["retry-after"])
    assert 0 < seconds <= 3600
    assert refused.json()["retry_after"] == seconds
    assert refused.json()["detail"].startswith("Too many reset requests from here. Try again in ")
    form = await client.get("/reset")
    page = await client.post(
        "/reset", data={"csrf_token": _csrf(form.text), "login": "someone-else"}
    )
    assert page.status_code == 429
    assert 0 < int(page.headers["retry-after"]) <= 3600
    assert "Try again in 1 hour." in page.text


async def test_a_throttled_password_change_answers_with_retry_after(
    client: httpx.AsyncClient, database: Database, member_a: Person
) -> None:
    await sign_in(client, member_a, database)
    body = {"current_password": WRONG, "new_password": "violet tundra lantern mosaic quill"}
    for _ in range(3):
        assert (await client.post("/api/v1/me/password", json=body)).status_code == 422
    held = await client.post("/api/v1/me/password", json=body)
    assert held.status_code == 429
    assert held.json()["code"] == "reauthentication_throttled"
    assert held.headers["retry-after"] == str(held.json()["retry_after"])
    form = await client.get("/account/password")
    page = await client.post(
        "/account/password",
        data={
            "csrf_token": _csrf(form.text),
            "current_password": WRONG,
            "new_password": body["new_password"],
        },
    )
    assert page.status_code == 429
    assert int(page.headers["retry-after"]) >= 1
    assert "Try again in" in page.text
