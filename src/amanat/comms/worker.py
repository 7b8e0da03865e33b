"""The background loop that empties the outbox, for `amanat worker` and the in-process runner."""

from __future__ import annotations

import asyncio
import contextlib

from amanat.comms.delivery import DeliveryReport, MailTransport, deliver_due
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.logging import get_logger

__all__ = ["DELIVERY_BATCH", "run_worker"]

DELIVERY_BATCH = 50


async def run_worker(
    database: Database,
    ring: MasterKeyring,
    transport: MailTransport,
    *,
    stop: asyncio.Event,
    interval: float = 2.0,
) -> None:
    """Deliver due mail every ``interval`` seconds until ``stop`` is set.

    A full batch is followed at once by the next, so a backlog drains without waiting. A
    round that fails is logged (error class only) and the loop goes on. The round in flight
    when ``stop`` is set finishes first, so its sends are committed rather than repeated.
    """
    log = get_logger("amanat.worker")
    log.info("worker_started", interval=interval)
    while not stop.is_set():
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
