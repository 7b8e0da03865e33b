"""What queued mail needs from the master key ring, for key rotation.

Queued mail is not re-encrypted: it is delivered within minutes, so an old master version
simply waits for it. Sent and failed mail is never decrypted again, so it holds nothing back
(and becomes unreadable once its version retires, before the retention purge deletes it).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.comms.models import OutboxMessage
from amanat.comms.outbox import decrypt_message
from amanat.core.crypto import DecryptionError, KeyringError, MasterKeyring


async def queued_mail_not_current(session: AsyncSession, ring: MasterKeyring) -> int:
    """How many messages waiting for delivery are sealed under an older master version."""
    version = ring.current_version
    current = MasterKeyring(versions={version: ring.get(version)}, current_version=version)
    pending = await session.scalars(select(OutboxMessage).where(OutboxMessage.status == "pending"))
    count = 0
    for message in pending:
        try:
            decrypt_message(current, message)
        except (DecryptionError, KeyringError):
            count += 1
    return count
