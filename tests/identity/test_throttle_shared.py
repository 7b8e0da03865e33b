"""Throttling by account, not by name; an address shared by many people locks none of them out;
a ceiling over every failure holds a spread-out attack."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.settings import Settings
from amanat.identity.models import SigninThrottle
from amanat.web.app import create_app
from tests.support.identity import Person, sign_in

pytestmark = pytest.mark.policy("§4 user responsibility")

WRONG = "wrong wrong wrong wrong"


async def _clear_delays(database: Database, *, below: int = 10) -> None:
    """Time passes: the growing waits of keys with fewer than `below` failures run out."""
    async with database.sessionmaker() as session:
        for row in (await session.scalars(select(SigninThrottle))).all():
            if row.failures < below:
                row.locked_until = None
        await session.commit()


async def _step(client: httpx.AsyncClient, login: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/session", json={"login": login, "password": password})


@pytest.mark.asvs("V6.1.1", "V2.4.1")
async def test_a_guessed_account_does_not_lock_out_others_behind_the_same_address(
    client: httpx.AsyncClient,
    new_client: Callable[..., httpx.AsyncClient],
    member_a: Person,
    admin_a: Person,
    database: Database,
) -> None:
    # Someone behind the office's one public address guesses member-a's password.
    for _ in range(10):
        await _clear_delays(database)
        await _step(client, member_a.username, WRONG)
    assert (await _step(client, member_a.username, member_a.password)).status_code == 429
    # A colleague behind the same address, with the right password, gets in at once (and
    # through the second factor: the address's count does not hold that step).
    assert admin_a.totp_secret is not None
    async with new_client("127.0.0.1") as colleague:
        await sign_in(colleague, admin_a, database)
        assert (await colleague.get("/api/v1/me")).status_code == 200
    # A wrong password from that address is refused for now, and counted.
    async with new_client("127.0.0.1") as guesser:
        wrong = await _step(guesser, admin_a.email, WRONG)
    assert wrong.status_code == 429
    assert wrong.json()["code"] == "signin_throttled"


@pytest.mark.asvs("V6.1.1", "V2.4.1")
async def test_from_an_address_over_its_limit_an_account_with_failures_needs_to_wait(
    client: httpx.AsyncClient, member_a: Person, admin_a: Person
) -> None:
    for _ in range(2):  # below the account's own waits
        assert (await _step(client, member_a.username, WRONG)).status_code == 401
    for number in range(6):  # other names from the same address: it now waits half a minute
        await _step(client, f"someone-{number}", WRONG)
    # The right password of an account with failures of its own is refused like a wrong one.
    refused = await _step(client, member_a.username, member_a.password)
    assert refused.status_code == 429
    wrong = await _step(client, "someone-else", WRONG)
    assert wrong.status_code == 429
    assert refused.json()["code"] == wrong.json()["code"] == "signin_throttled"
    # An account with no failures of its own still gets in.
    assert (await _step(client, admin_a.username, admin_a.password)).status_code == 200


@pytest.mark.asvs("V2.4.1")
async def test_the_lock_holds_the_account_whether_named_by_username_or_email(
    client: httpx.AsyncClient,
    new_client: Callable[..., httpx.AsyncClient],
    member_a: Person,
    database: Database,
) -> None:
    for _ in range(10):
        await _clear_delays(database)
        assert (await _step(client, member_a.username, WRONG)).status_code == 401
    async with new_client("198.51.100.30") as elsewhere:
        by_email = await _step(elsewhere, member_a.email, member_a.password)
        by_capitals = await _step(elsewhere, f"  {member_a.email.upper()} ", member_a.password)
    assert by_email.status_code == 429
    assert by_email.json()["code"] == "signin_throttled"
    assert by_capitals.status_code == 429


@pytest.mark.asvs("V2.4.1")
async def test_failures_by_username_and_by_email_add_up_to_one_lock(
    new_client: Callable[..., httpx.AsyncClient], member_a: Person, database: Database
) -> None:
    for number in range(10):
        await _clear_delays(database)
        name = member_a.username if number % 2 else member_a.email
        # Each from its own address, so only the account's count can lock.
        async with new_client(f"198.51.100.{100 + number}") as http:
            assert (await _step(http, name, WRONG)).status_code == 401
    await _clear_delays(database)  # only a lock is left
    async with new_client("198.51.100.99") as http:
        assert (await _step(http, member_a.username, member_a.password)).status_code == 429


@pytest.fixture
def ceiling_settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "ceiling", environment="development", global_lock_failures=50
    )


@pytest.fixture
def ceiling_client(
    ceiling_settings: Settings, database: Database, test_keyring: MasterKeyring
) -> Callable[[str], httpx.AsyncClient]:
    app = create_app(ceiling_settings, database=database, keyring=test_keyring)

    def make(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 50004))
        return httpx.AsyncClient(transport=transport, base_url="https://testserver")

    return make


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts argon2 verifications (the real one still runs)."""
    counted: list[int] = []
    real_verify = PasswordHasher.verify

    def counting(self: PasswordHasher, hash: str | bytes, password: str | bytes) -> bool:
        counted.append(1)
        return real_verify(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting)
    return counted


@pytest.mark.asvs("V2.4.1", "V6.1.1")
async def test_a_thousand_guesses_from_one_address_are_refused_and_checked_only_so_far(
    ceiling_client: Callable[[str], httpx.AsyncClient],
    member_a: Person,
    admin_a: Person,
    database: Database,
    verifications: list[int],
) -> None:
    statuses: list[int] = []
    async with ceiling_client("203.0.113.7") as attacker:
        for attempt in range(1000):
            if attempt % 10 == 0:
                await _clear_delays(database)  # patient enough to wait out each delay
            response = await _step(attacker, f"user{attempt}", "Password1234567!")
            statuses.append(response.status_code)
    assert statuses.count(200) == 0
    # Over the ceiling, an address with failures on record is refused before any check.
    assert len(verifications) <= 50
    assert statuses[-100:] == [429] * 100
    # A real user, from an address with no failures, still gets in.
    async with ceiling_client("198.51.100.21") as own:
        assert (await _step(own, member_a.username, member_a.password)).status_code == 200


@pytest.mark.asvs("V2.4.1")
async def test_over_the_ceiling_a_spread_out_attack_gets_one_try_per_address(
    ceiling_client: Callable[[str], httpx.AsyncClient],
    admin_a: Person,
    verifications: list[int],
) -> None:
    for number in range(50):
        async with ceiling_client(f"203.0.113.{number + 1}") as bot:
            assert (await _step(bot, f"user{number}", WRONG)).status_code == 401
    verifications.clear()
    async with ceiling_client("203.0.113.1") as bot:
        again = await _step(bot, admin_a.username, admin_a.password)
    assert again.status_code == 429
    assert int(again.headers["retry-after"]) > 60
    assert verifications == []
    async with ceiling_client("198.51.100.22") as fresh:
        assert (await _step(fresh, admin_a.username, admin_a.password)).status_code == 200


@pytest.mark.asvs("V6.1.1")
async def test_failures_of_a_long_quiet_window_do_not_hold_an_account_back(
    client: httpx.AsyncClient, member_a: Person, database: Database
) -> None:
    assert (await _step(client, member_a.username, WRONG)).status_code == 401
    for number in range(6):  # the address now waits
        await _step(client, f"someone-{number}", WRONG)
    async with database.sessionmaker() as session:
        for row in (await session.scalars(select(SigninThrottle))).all():
            if row.scope == "user" and row.failures == 1:
                row.window_started_at -= timedelta(minutes=31)  # two quiet lock periods ago
        await session.commit()
    assert (await _step(client, member_a.username, member_a.password)).status_code == 200
