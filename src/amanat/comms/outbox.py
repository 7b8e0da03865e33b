"""The outbox: mail queued in the database, encrypted at rest, delivered later by the worker.

Recipient, subject and body are each sealed with AES-256-GCM under
``derive_subkey(master, "outbox")``, with AAD binding the value to table, column and row, so
a blob copied into another row or column fails to open. Stored blob layout::

    1 byte   outbox blob format (1)
    4 bytes  master key version, unsigned big-endian
    rest     the envelope blob of ``encrypt_value`` (algorithm byte, nonce, ciphertext + tag)

The master version travels in the blob because the table has no column for it: after a
rotation, queued mail still opens with the older version as long as the ring holds it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import getaddresses

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.comms.models import OutboxMessage
from amanat.core.clock import utcnow
from amanat.core.crypto import (
    DecryptionError,
    KeyringError,
    MasterKeyring,
    decrypt_value,
    encrypt_value,
)
from amanat.core.ids import new_id

__all__ = [
    "FAILED_RETENTION",
    "MAX_BODY_CHARS",
    "MAX_RECIPIENT_CHARS",
    "MAX_SUBJECT_CHARS",
    "SENT_RETENTION",
    "EmailMessageData",
    "decrypt_message",
    "due_messages",
    "purge_sent",
    "queue_email",
]

# TODO(privacy): move both periods into privacy/inventory.py once it exists (one place per fact).
SENT_RETENTION = timedelta(days=7)
FAILED_RETENTION = timedelta(days=30)

# RFC 5321 caps a forward path at 256 octets including the angle brackets.
MAX_RECIPIENT_CHARS = 254
MAX_SUBJECT_CHARS = 255
MAX_BODY_CHARS = 256 * 1024

_TABLE = OutboxMessage.__tablename__
_KEY_PURPOSE = "outbox"
_BLOB_FORMAT = 1
_HEADER_SIZE = 5
_CATEGORY_RE = re.compile(r"[a-z][a-z0-9_.-]{0,31}")
# CR and LF end a header line; NUL is refused by many MTAs and never meant.
_HEADER_BREAKERS = ("\r", "\n", "\x00")


@dataclass(frozen=True)
class EmailMessageData:
    """One queued mail, decrypted; ``repr`` omits the contents so it is safe in tracebacks."""

    to: str = field(repr=False)
    subject: str = field(repr=False)
    body: str = field(repr=False)


def _outbox_key(ring: MasterKeyring, version: int) -> bytes:
    return ring.subkey(version, _KEY_PURPOSE)


def _seal(key: bytes, version: int, plaintext: str, *, column: str, row_id: str) -> bytes:
    blob = encrypt_value(key, plaintext, table=_TABLE, column=column, row_id=row_id)
    return bytes([_BLOB_FORMAT]) + version.to_bytes(4, "big") + blob


def _blob_version(blob: bytes) -> int:
    if len(blob) <= _HEADER_SIZE or blob[0] != _BLOB_FORMAT:
        raise DecryptionError()
    return int.from_bytes(blob[1:_HEADER_SIZE], "big")


def _check_header_value(name: str, value: str, max_chars: int) -> None:
    # The message names the field, never the value: it is personal data.
    if any(breaker in value for breaker in _HEADER_BREAKERS):
        raise ValueError(f"{name} must not contain line breaks or NUL")
    if not value.strip():
        raise ValueError(f"{name} must not be empty")
    if len(value) > max_chars:
        raise ValueError(f"{name} must be at most {max_chars} characters")


def _check_recipient(to: str) -> None:
    _check_header_value("recipient", to, MAX_RECIPIENT_CHARS)
    addresses = getaddresses([to])
    # One message, one person: a list would disclose recipients to each other.
    if len(addresses) != 1 or "@" not in addresses[0][1]:
        raise ValueError("recipient must be exactly one email address")


@dataclass(frozen=True, repr=False)
class EmailToQueue:
    """One mail for the outbox; never logged (the recipient and body are personal data)."""

    to: str
    subject: str
    body: str
    category: str
    account_id: str | None = None

    def __repr__(self) -> str:
        return f"EmailToQueue(category={self.category!r})"


async def queue_email(
    session: AsyncSession,
    ring: MasterKeyring,
    *,
    to: str,
    subject: str,
    body: str,
    category: str,
    account_id: str | None = None,
) -> str:
    """Queue one mail for the worker, encrypted under the current master version; its id."""
    email = EmailToQueue(
        to=to, subject=subject, body=body, category=category, account_id=account_id
    )
    [message_id] = await queue_emails(session, ring, [email])
    return message_id


async def queue_emails(
    session: AsyncSession, ring: MasterKeyring, emails: Sequence[EmailToQueue]
) -> list[str]:
    """Queue several mails with one flush; every one is checked before any is queued."""
    for email in emails:
        _check_recipient(email.to)
        _check_header_value("subject", email.subject, MAX_SUBJECT_CHARS)
        if len(email.body) > MAX_BODY_CHARS:
            raise ValueError(f"body must be at most {MAX_BODY_CHARS} characters")
        if not _CATEGORY_RE.fullmatch(email.category):
            raise ValueError("category must be 1-32 characters of a-z, 0-9, '_', '.', '-'")
    version = ring.current_version
    key = _outbox_key(ring, version)
    now = utcnow()
    ids: list[str] = []
    for email in emails:
        message_id = new_id()
        session.add(
            OutboxMessage(
                id=message_id,
                account_id=email.account_id,
                category=email.category,
                recipient=_seal(key, version, email.to, column="recipient", row_id=message_id),
                subject=_seal(key, version, email.subject, column="subject", row_id=message_id),
                body=_seal(key, version, email.body, column="body", row_id=message_id),
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
        ids.append(message_id)
    await session.flush()
    return ids


async def due_messages(session: AsyncSession, now: datetime, limit: int) -> list[OutboxMessage]:
    """Pending messages due by ``now``, oldest first, locked for this transaction.

    On PostgreSQL rows another worker holds are skipped (``FOR UPDATE SKIP LOCKED``), so
    workers share the queue without waiting on or double-claiming each other's rows.
    SQLite renders no lock clause; the embedded setup runs a single worker.
    """
    statement = (
        select(OutboxMessage)
        .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.scalars(statement)).all())


def _open(ring: MasterKeyring, keys: dict[int, bytes], row: OutboxMessage, column: str) -> str:
    blob: bytes = getattr(row, column)
    version = _blob_version(blob)
    if version not in keys:
        try:
            keys[version] = _outbox_key(ring, version)
        except KeyringError:
            raise DecryptionError() from None
    return decrypt_value(
        keys[version], blob[_HEADER_SIZE:], table=_TABLE, column=column, row_id=row.id
    )


def decrypt_message(ring: MasterKeyring, row: OutboxMessage) -> EmailMessageData:
    """Recipient, subject and body of ``row``; ``DecryptionError`` on any failure."""
    keys: dict[int, bytes] = {}
    return EmailMessageData(
        to=_open(ring, keys, row, "recipient"),
        subject=_open(ring, keys, row, "subject"),
        body=_open(ring, keys, row, "body"),
    )


async def purge_sent(
    session: AsyncSession,
    older_than: timedelta = SENT_RETENTION,
    *,
    failed_older_than: timedelta = FAILED_RETENTION,
    now: datetime | None = None,
) -> int:
    """Delete sent mail older than ``older_than`` and failed mail older than
    ``failed_older_than`` (counted from queueing); the number of rows deleted."""
    moment = now or utcnow()
    statement = delete(OutboxMessage).where(
        or_(
            and_(
                OutboxMessage.status == "sent",
                OutboxMessage.sent_at < moment - older_than,
            ),
            and_(
                OutboxMessage.status == "failed",
                OutboxMessage.created_at < moment - failed_older_than,
            ),
        )
    )
    result = await session.execute(statement.execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)
