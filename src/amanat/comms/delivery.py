"""Delivering the outbox: build RFC 5322 mail and hand it to a transport, with retry and backoff.

Transports (``.eml`` files or SMTP) are in ``amanat.comms.transports``.

Delivery is at-least-once; a repeat carries the same ``Message-ID`` (derived from the
outbox id), so receivers can recognise it. One run never sends a message twice: a row is
claimed only while pending and due, and leaves that state when its outcome is recorded.

- PostgreSQL: one transaction per batch. Rows are claimed ``FOR UPDATE SKIP LOCKED``, sent,
  and marked when the transaction commits, so several workers share the queue. If the
  process dies, or the commit fails, after a send and before the commit, the batch's
  messages are still pending and go out again.
- SQLite: rows are read in a short transaction and each outcome is written in a short
  transaction of its own, right after its send. A write transaction held across network I/O
  would block every web request; a read transaction held across it could not commit once
  any request had written (stale WAL snapshot), and the whole batch would go out again every
  round. So at most the one message in flight can repeat. Only one worker may serve a
  SQLite file: nothing locks the rows it reads.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiosmtplib
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.comms.models import OutboxMessage
from amanat.comms.outbox import decrypt_message, due_messages
from amanat.comms.transports import MailTransport, build_email
from amanat.core.clock import utcnow
from amanat.core.crypto import DecryptionError, MasterKeyring
from amanat.core.db import Database, unit_of_work
from amanat.core.logging import get_logger

MAX_ATTEMPTS = 10
RETRY_BASE = timedelta(minutes=1)
RETRY_CAP = timedelta(hours=6)
# Up to 20% earlier than the nominal delay, so messages that failed together (a relay outage)
# do not all retry in the same second.
RETRY_JITTER = 0.2

_LOG_NAME = "amanat.outbox"


@dataclass
class DeliveryReport:
    """What one ``deliver_due`` round did, in counts."""

    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0

    def count(self, outcome: str) -> None:
        if outcome == "sent":
            self.sent += 1
        elif outcome == "retrying":
            self.retrying += 1
        else:
            self.failed += 1


def retry_delay(attempts: int) -> timedelta:
    """Wait after the ``attempts``-th failure: 1 min doubling to at most 6 h, minus jitter."""
    nominal = min(RETRY_BASE * (1 << min(max(attempts - 1, 0), 20)), RETRY_CAP)
    jitter = RETRY_JITTER * secrets.randbelow(1001) / 1000
    return nominal * (1 - jitter)


def _refused_for_good(exc: Exception) -> bool:
    # A 5xx for every recipient ("no such mailbox") will not change on a retry.
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(r.code >= 500 for r in exc.recipients)
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused):
        return exc.code >= 500
    return False


def _record_failure(row: OutboxMessage, exc: Exception, now: datetime, *, permanent: bool) -> str:
    # The class name only: SMTP replies and parser errors may quote the address.
    row.last_error = type(exc).__name__[:64]
    if permanent or row.attempts >= MAX_ATTEMPTS:
        row.status = "failed"
        return "failed"
    row.next_attempt_at = now + retry_delay(row.attempts)
    return "retrying"


async def _deliver_one(
    ring: MasterKeyring, transport: MailTransport, row: OutboxMessage, now: datetime
) -> str:
    row.attempts += 1
    try:
        mail = decrypt_message(ring, row)
        message = build_email(mail, sender=transport.sender, message_id=row.id, date=now)
    except (DecryptionError, ValueError) as exc:
        # A retired key version, a mangled blob or a header the message API refuses:
        # no retry can fix these.
        return _record_failure(row, exc, now, permanent=True)
    try:
        await transport.send(message)
    except Exception as exc:  # any transport failure is a failed attempt, never a crash
        return _record_failure(row, exc, now, permanent=_refused_for_good(exc))
    row.status = "sent"
    row.sent_at = now
    row.last_error = None
    return "sent"


async def deliver_due(
    database: Database,
    ring: MasterKeyring,
    transport: MailTransport,
    *,
    now: datetime | None = None,
    batch: int = 50,
) -> DeliveryReport:
    """Send up to ``batch`` due messages and record each outcome (see the module notes)."""
    moment = now or utcnow()
    # Looked up per round, so the logging configuration in force now is the one used.
    log = get_logger(_LOG_NAME)
    report = DeliveryReport()
    if database.is_sqlite:
        async with unit_of_work(database) as session:
            rows = await due_messages(session, moment, batch)
        report.claimed = len(rows)
        for row in rows:
            outcome = await _deliver_one(ring, transport, row, moment)
            async with unit_of_work(database) as session:
                await _record(session, row)
            _note(report, log, row, outcome)
        return report
    async with unit_of_work(database) as session:
        rows = await due_messages(session, moment, batch)
        report.claimed = len(rows)
        for row in rows:
            outcome = await _deliver_one(ring, transport, row, moment)
            _note(report, log, row, outcome)
    return report


async def _record(session: AsyncSession, row: OutboxMessage) -> None:
    # A plain UPDATE as the transaction's first statement: SQLite then waits its busy
    # timeout for a concurrent writer instead of failing on a stale read snapshot.
    statement = (
        update(OutboxMessage)
        .where(OutboxMessage.id == row.id)
        .values(
            status=row.status,
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at,
            sent_at=row.sent_at,
            last_error=row.last_error,
        )
        .execution_options(synchronize_session=False)
    )
    await session.execute(statement)


def _note(report: DeliveryReport, log: Any, row: OutboxMessage, outcome: str) -> None:
    report.count(outcome)
    # Ids and outcome only: never the address, subject or body (V16.2.5).
    log.info(
        "outbox_delivery",
        message_id=row.id,
        account_id=row.account_id,
        category=row.category,
        outcome=outcome,
        attempts=row.attempts,
        error=row.last_error,
    )
