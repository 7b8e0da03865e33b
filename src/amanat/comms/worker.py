"""The background loop that empties the outbox, for `amanat worker` and the in-process runner."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from amanat.comms.delivery import DeliveryReport, deliver_due
from amanat.comms.transports import MailTransport
from amanat.core.clock import utcnow
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.logging import get_logger

__all__ = ["DELIVERY_BATCH", "PeriodicJob", "run_worker"]

DELIVERY_BATCH = 50


@dataclass(frozen=True)
class PeriodicJob:
    """Work the loop runs every `every`, first when it starts (retention, say). Each worker
    process runs it, so it must be safe to repeat; a failure is logged and retried next time."""

    name: str
    every: timedelta
    run: Callable[[Database, datetime], Awaitable[None]]


async def run_worker(
    database: Database,
    ring: MasterKeyring,
    transport: MailTransport,
    *,
    stop: asyncio.Event,
    interval: float = 2.0,
    jobs: Sequence[PeriodicJob] = (),
) -> None:
    """Deliver due mail every ``interval`` seconds until ``stop`` is set.

    A full batch is followed at once by the next, so a backlog drains without waiting. A
    round that fails is logged (error class only) and the loop goes on. The round in flight
    when ``stop`` is set finishes first, so its sends are committed rather than repeated.
    """
    log = get_logger("amanat.worker")
    log.info("worker_started", interval=interval)
    next_runs = dict.fromkeys((job.name for job in jobs), 0.0)
    while not stop.is_set():
        await _run_due_jobs(database, jobs, next_runs, log)
        report: DeliveryReport | None = None
        try:
            report = await deliver_due(database, ring, transport, batch=DELIVERY_BATCH)
        except Exception as exc:  # one bad round (database away, say) must not end the worker
            # No traceback: driver messages can quote statement parameters.
            log.error("worker_round_failed", error=type(exc).__name__)
        if report is not None and report.claimed >= DELIVERY_BATCH:
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
    log.info("worker_stopped")


async def _run_due_jobs(
    database: Database, jobs: Sequence[PeriodicJob], next_runs: dict[str, float], log: Any
) -> None:
    for job in jobs:
        now = time.monotonic()
        if next_runs[job.name] > now:
            continue
        next_runs[job.name] = now + job.every.total_seconds()
        try:
            await job.run(database, utcnow())
        except Exception as exc:  # like a failed delivery round: log the class, carry on
            log.error("worker_job_failed", job=job.name, error=type(exc).__name__)
