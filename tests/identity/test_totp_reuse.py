"""A right TOTP code whose step was already used is refused as a replay (ASVS V6.5.1), with its
own answer: the person is told to wait for the next code, not that the code is wrong."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pyotp
import pytest

from amanat.core.db import Database
from amanat.identity.mfa import (
    TOTP_REUSED_MESSAGE,
    TOTP_STEP_SECONDS,
    new_totp_secret,
    totp_code_reused,
    verify_totp,
)
from tests.support.identity import Person, load_user, next_totp

pytestmark = pytest.mark.policy("§4 access controls")

REUSED = "This code was just used; wait for the next one."


async def _enrolment_code(database: Database, person: Person, steps_after: int = 0) -> str:
    """The code of the step the enrolment used (moments ago), or of a later step."""
    assert person.totp_secret is not None
    step = (await load_user(database, person.user_id)).totp_last_step
    assert step is not None
    return pyotp.TOTP(person.totp_secret).generate_otp(step + steps_after)


async def _password_step(http: httpx.AsyncClient, person: Person) -> str:
    first = await http.post(
        "/api/v1/session", json={"login": person.username, "password": person.password}
    )
    assert first.status_code == 200, first.text
    assert first.json()["needs_second_factor"]
    token: str = first.json()["csrf_token"]
    return token


@pytest.mark.asvs("V6.5.1")
async def test_sign_in_with_the_code_enrolment_just_used_says_to_wait(
    client: httpx.AsyncClient, database: Database, member_a: Person
) -> None:
    # The fixture enrolled with the code of the current step, moments ago.
    csrf = await _password_step(client, member_a)
    answer = await client.post(
        "/api/v1/session/second-factor",
        json={"code": await _enrolment_code(database, member_a)},
        headers={"x-csrf-token": csrf},
    )
    assert answer.status_code == 401
    assert answer.json()["code"] == "totp_reused"
    assert answer.json()["detail"] == REUSED
    # The next code still works.
    done = await client.post(
        "/api/v1/session/second-factor",
        json={"code": await _enrolment_code(database, member_a, 1)},
        headers={"x-csrf-token": csrf},
    )
    assert done.status_code == 200, done.text


@pytest.mark.asvs("V6.5.1")
async def test_a_replayed_code_says_to_wait_and_a_wrong_one_says_wrong(
    client: httpx.AsyncClient, second_client: httpx.AsyncClient, member_a: Person
) -> None:
    assert member_a.totp_secret is not None
    code = next_totp(member_a.totp_secret, 1)
    csrf = await _password_step(client, member_a)
    used = await client.post(
        "/api/v1/session/second-factor", json={"code": code}, headers={"x-csrf-token": csrf}
    )
    assert used.status_code == 200
    csrf = await _password_step(second_client, member_a)
    again = await second_client.post(
        "/api/v1/session/second-factor", json={"code": code}, headers={"x-csrf-token": csrf}
    )
    assert again.status_code == 401
    assert again.json()["code"] == "totp_reused"
    wrong_code = f"{(int(code) + 1) % 1_000_000:06d}"
    wrong = await second_client.post(
        "/api/v1/session/second-factor", json={"code": wrong_code}, headers={"x-csrf-token": csrf}
    )
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "mfa_failed"
    assert wrong.json()["detail"] == "That code is not right."


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


@pytest.mark.asvs("V6.5.1")
async def test_the_second_factor_page_says_to_wait_for_a_reused_code(
    client: httpx.AsyncClient, database: Database, member_a: Person
) -> None:
    assert member_a.totp_secret is not None
    form = await client.get("/signin")
    done = await client.post(
        "/signin",
        data={
            "csrf_token": _csrf(form.text),
            "login": member_a.username,
            "password": member_a.password,
        },
    )
    assert done.headers["location"] == "/signin/second-factor"
    page = await client.get("/signin/second-factor")
    refused = await client.post(
        "/signin/second-factor",
        data={"csrf_token": _csrf(page.text), "code": await _enrolment_code(database, member_a)},
    )
    assert refused.status_code == 401
    assert REUSED in refused.text
    assert "That code is not right." not in refused.text


@pytest.mark.asvs("V6.5.1")
def test_totp_code_reused_tells_a_used_step_from_a_wrong_code() -> None:
    secret = new_totp_secret()
    at = datetime(2026, 1, 1, 12, 0, 10, tzinfo=UTC)
    step = int(at.timestamp()) // TOTP_STEP_SECONDS
    code = pyotp.TOTP(secret).at(at)
    assert verify_totp(secret, code, last_used_step=None, at=at) == step
    assert verify_totp(secret, code, last_used_step=step, at=at) is None
    assert totp_code_reused(secret, code, last_used_step=step, at=at)
    # An older step's code after a newer one was used: also a replay.
    assert totp_code_reused(secret, code, last_used_step=step + 1, at=at)
    assert not totp_code_reused(secret, code, last_used_step=None, at=at)
    assert not totp_code_reused(secret, code, last_used_step=step - 1, at=at)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    assert not totp_code_reused(secret, wrong, last_used_step=step, at=at)
    assert not totp_code_reused(secret, "not a code", last_used_step=step, at=at)
    assert TOTP_REUSED_MESSAGE == REUSED
