"""Password hashing runs in a pool of one thread per usable core, off the event loop."""

from __future__ import annotations

import asyncio
import threading
import time

import structlog

from amanat.identity import hashing
from amanat.identity.hashing import run_password_work


async def test_no_more_hashes_run_at_once_than_the_process_has_cores() -> None:
    running = 0
    most = 0
    guard = threading.Lock()

    def work() -> str:
        nonlocal running, most
        with guard:
            running += 1
            most = max(most, running)
        time.sleep(0.02)
        with guard:
            running -= 1
        return threading.current_thread().name

    names = await asyncio.gather(*(run_password_work(work) for _ in range(12)))
    assert most == min(12, hashing._usable_cores())
    assert all(name.startswith("amanat-password") for name in names)


async def test_the_event_loop_keeps_running_while_a_password_is_hashed() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    running = asyncio.create_task(ticker())
    await run_password_work(hashing.hash_password, "a long enough password to hash")
    running.cancel()
    assert ticks > 3  # one argon2id hash takes tens of milliseconds


async def test_the_callers_context_goes_along() -> None:
    with structlog.contextvars.bound_contextvars(request_id="abc123"):
        seen = await run_password_work(
            lambda: structlog.contextvars.get_contextvars().get("request_id")
        )
    assert seen == "abc123"
