"""Past capacity a sign-in is refused at once with 503 and `Retry-After`, instead of waiting
seconds behind other sign-ins' password hashing (issue 12: "overload sheds instead of queueing";
"a sign-in never waits seconds")."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx

from amanat.core.settings import Settings
from amanat.identity import hashing
from amanat.identity.hashing import run_password_work
from tests.support.identity import Person


async def test_a_full_password_pool_refuses_a_sign_in_at_once_then_admits_it_again(
    client: httpx.AsyncClient, member_a: Person, settings: Settings
) -> None:
    release = threading.Event()
    limit = settings.signin_queue_per_core * hashing._usable_cores()
    assert limit > 0

    def slow_hash() -> None:
        release.wait(timeout=20)

    # Other sign-ins' hashes fill the pool to its bound (queued or running).
    busy = [asyncio.ensure_future(run_password_work(slow_hash)) for _ in range(limit)]
    await asyncio.sleep(0.05)
    try:
        started = time.monotonic()
        refused = await client.post(
            "/api/v1/session", json={"login": member_a.username, "password": member_a.password}
        )
        waited = time.monotonic() - started
    finally:
        release.set()
        await asyncio.gather(*busy)
    assert refused.status_code == 503, refused.text
    assert refused.json()["code"] == "overloaded"
    assert refused.headers["retry-after"] == "1"
    assert "Try again in 1 second" in refused.json()["detail"]
    assert waited < 5  # refused at once, not after the queue drained
    # The refusal counted nothing against the member: with room again, the sign-in works.
    admitted = await client.post(
        "/api/v1/session", json={"login": member_a.username, "password": member_a.password}
    )
    assert admitted.status_code == 200, admitted.text


async def test_a_sign_in_below_the_bound_waits_its_turn(
    client: httpx.AsyncClient, member_a: Person, settings: Settings
) -> None:
    release = threading.Event()
    limit = settings.signin_queue_per_core * hashing._usable_cores()

    def slow_hash() -> None:
        release.wait(timeout=20)

    busy = [asyncio.ensure_future(run_password_work(slow_hash)) for _ in range(limit - 1)]
    await asyncio.sleep(0.05)
    signing_in = asyncio.ensure_future(
        client.post(
            "/api/v1/session", json={"login": member_a.username, "password": member_a.password}
        )
    )
    await asyncio.sleep(0.1)
    assert not signing_in.done()  # queued, not refused
    release.set()
    await asyncio.gather(*busy)
    answer = await signing_in
    assert answer.status_code == 200, answer.text
