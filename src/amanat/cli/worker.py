"""`amanat worker`: deliver queued mail until interrupted (SIGINT or SIGTERM)."""

from __future__ import annotations

import asyncio
import os
import signal

import typer

from amanat.activity.retention import activity_retention_job
from amanat.audit.head_log import HEAD_LOG_CHECK_EVERY, HEAD_LOG_JOB, log_chain_head_if_due
from amanat.comms.transports import MailTransport, transport_from_settings
from amanat.comms.worker import PeriodicJob, run_worker
from amanat.core.logging import configure_logging
from amanat.core.runtime import open_runtime
from amanat.core.settings import Settings, load_settings


def worker() -> None:
    """`amanat worker`: deliver queued mail and run the daily jobs until interrupted."""
    os.umask(0o077)  # .eml files, the database and keys are for this user's eyes only
    settings = load_settings()
    configure_logging(settings.log_level)
    # Before the database: a bad AMANAT_SMTP_URL is one line for the operator, at once.
    transport = transport_from_settings(settings)
    typer.echo("Amanat worker is delivering mail; press Ctrl+C to stop.")
    try:
        asyncio.run(_work(settings, transport))
    except asyncio.CancelledError:
        # A second signal cut the round short; `amanat` reports that as "interrupted".
        raise KeyboardInterrupt from None


async def _work(settings: Settings, transport: MailTransport) -> None:
    runtime = await open_runtime(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()

    def _on_signal() -> None:
        # First signal: finish the round in flight and leave. Second: leave now (any mail
        # sent in the unfinished round goes out again next time: at-least-once).
        if stop.is_set() and main is not None:
            main.cancel()
        stop.set()

    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        loop.add_signal_handler(signum, _on_signal)
    try:
        await run_worker(
            runtime.database,
            runtime.keyring,
            transport,
            stop=stop,
            jobs=[
                activity_retention_job(settings),
                PeriodicJob(HEAD_LOG_JOB, HEAD_LOG_CHECK_EVERY, log_chain_head_if_due),
            ],
        )
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
        await runtime.database.dispose()
