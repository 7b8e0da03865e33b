"""The outbox keeps queued mail encrypted, refuses header injection and forgets old mail."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from amanat.comms.delivery import deliver_due
from amanat.comms.models import OutboxMessage
from amanat.comms.outbox import (
    decrypt_message,
    due_messages,
    purge_sent,
    queue_email,
)
from amanat.comms.transports import EmlDirectoryTransport
from amanat.core.clock import utcnow
from amanat.core.crypto import DecryptionError, MasterKeyring
from amanat.core.db import Database, unit_of_work

ALICE = "alice.khan@example.com"
SUBJECT = "Your Amanat sign-in code"
BODY = "Hello Alice,\n\nyour code is 424242.\n"


async def _queue(database: Database, ring: MasterKeyring, **overrides: str) -> str:
    fields = {"to": ALICE, "subject": SUBJECT, "body": BODY, "category": "account"}
    fields.update(overrides)
    async with unit_of_work(database) as session:
        return await queue_email(session, ring, **fields)


async def _row(database: Database, message_id: str) -> OutboxMessage:
    async with database.sessionmaker() as session:
        row = await session.get(OutboxMessage, message_id)
    assert row is not None
    return row


async def _count(database: Database) -> int:
    async with database.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)


async def test_queued_mail_is_pending_and_decrypts(
    database: Database, test_keyring: MasterKeyring
) -> None:
    message_id = await _queue(database, test_keyring, to="Alice Khan <alice.khan@example.com>")
    row = await _row(database, message_id)
    assert (row.status, row.attempts, row.category) == ("pending", 0, "account")
    assert row.next_attempt_at <= utcnow()
    mail = decrypt_message(test_keyring, row)
    assert (mail.to, mail.subject, mail.body) == (
        "Alice Khan <alice.khan@example.com>",
        SUBJECT,
        BODY,
    )
    assert ALICE not in repr(mail)


@pytest.mark.asvs("V11.3.1", "V14.2.4")
async def test_stored_row_holds_no_address_subject_or_body_in_the_clear(
    database: Database, test_keyring: MasterKeyring
) -> None:
    message_id = await _queue(database, test_keyring)
    async with database.sessionmaker() as session:
        raw = (
            await session.execute(
                select(OutboxMessage.recipient, OutboxMessage.subject, OutboxMessage.body).where(
                    OutboxMessage.id == message_id
                )
            )
        ).one()
    stored = b"".join(bytes(column) for column in raw)
    for secret in (ALICE, "alice", "example.com", SUBJECT, "sign-in code", "424242"):
        assert secret.encode() not in stored
    # Format byte, then the master key version the blob was sealed under.
    for column in raw:
        assert bytes(column)[0] == 1
        assert int.from_bytes(bytes(column)[1:5], "big") == test_keyring.current_version


@pytest.mark.asvs("V1.3.11")
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("to", "alice.khan@example.com\r\nBcc: evil@attacker.test"),
        ("to", "alice.khan@example.com\nBcc: evil@attacker.test"),
        ("subject", "Hello\r\nBcc: evil@attacker.test"),
        ("subject", "Hello\rBcc: evil@attacker.test"),
        ("subject", "Hello\nBcc: evil@attacker.test"),
    ],
)
async def test_line_breaks_in_headers_are_refused_without_echoing_the_value(
    database: Database, test_keyring: MasterKeyring, field: str, value: str
) -> None:
    with pytest.raises(ValueError, match="line breaks") as caught:
        await _queue(database, test_keyring, **{field: value})
    assert "attacker" not in str(caught.value)
    assert "alice" not in str(caught.value)
    assert await _count(database) == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("to", "alice.khan@example.com, bob@example.com"),
        ("to", "not an address"),
        ("to", ""),
        ("subject", ""),
        ("subject", "x" * 256),
        ("category", "Bad Category"),
    ],
)
async def test_malformed_mail_is_refused(
    database: Database, test_keyring: MasterKeyring, field: str, value: str
) -> None:
    with pytest.raises(ValueError, match=field.replace("to", "recipient")) as caught:
        await _queue(database, test_keyring, **{field: value})
    assert "bob" not in str(caught.value)
    assert await _count(database) == 0


async def test_ciphertext_moved_to_another_column_or_row_does_not_decrypt(
    database: Database, test_keyring: MasterKeyring
) -> None:
    first = await _row(database, await _queue(database, test_keyring))
    second = await _row(database, await _queue(database, test_keyring, to="bob@example.com"))
    first.subject = first.recipient
    with pytest.raises(DecryptionError):
        decrypt_message(test_keyring, first)
    second.recipient = (await _row(database, first.id)).recipient
    with pytest.raises(DecryptionError):
        decrypt_message(test_keyring, second)


async def test_old_mail_still_decrypts_after_master_key_rotation(
    database: Database, test_keyring: MasterKeyring
) -> None:
    old_id = await _queue(database, test_keyring)
    rotated = test_keyring.with_new_version()
    new_id = await _queue(database, rotated, to="bob@example.com")

    assert decrypt_message(rotated, await _row(database, old_id)).to == ALICE
    new_row = await _row(database, new_id)
    assert int.from_bytes(new_row.recipient[1:5], "big") == rotated.current_version
    assert decrypt_message(rotated, new_row).to == "bob@example.com"
    # The old ring has no key for the new version, and retiring the old version loses old mail.
    with pytest.raises(DecryptionError):
        decrypt_message(test_keyring, new_row)
    with pytest.raises(DecryptionError):
        decrypt_message(
            rotated.without_version(test_keyring.current_version), await _row(database, old_id)
        )


async def test_due_messages_are_pending_ones_whose_time_has_come(
    database: Database, test_keyring: MasterKeyring, tmp_path: Path
) -> None:
    due = await _queue(database, test_keyring)
    later = await _queue(database, test_keyring)
    sent = await _queue(database, test_keyring)
    now = utcnow()
    async with unit_of_work(database) as session:
        row = await session.get(OutboxMessage, later)
        assert row is not None
        row.next_attempt_at = now + timedelta(minutes=5)
        row = await session.get(OutboxMessage, sent)
        assert row is not None
        row.status = "sent"
    async with database.sessionmaker() as session:
        assert [row.id for row in await due_messages(session, now, 10)] == [due]
        assert await due_messages(session, now, 0) == []
        later_on = await due_messages(session, now + timedelta(minutes=6), 10)
        assert {row.id for row in later_on} == {due, later}


@pytest.mark.asvs("V14.2.7")
async def test_purge_removes_sent_mail_after_a_week_and_failed_after_a_month(
    database: Database, test_keyring: MasterKeyring, tmp_path: Path
) -> None:
    sent_id = await _queue(database, test_keyring)
    # Sealed under a key this ring does not hold: delivery fails for good at once.
    failed_id = await _queue(database, MasterKeyring.generate().with_new_version())
    pending_id = await _queue(database, test_keyring)
    async with unit_of_work(database) as session:
        row = await session.get(OutboxMessage, pending_id)
        assert row is not None
        row.next_attempt_at = utcnow() + timedelta(days=365)
    report = await deliver_due(database, test_keyring, EmlDirectoryTransport(tmp_path / "mail"))
    assert (report.sent, report.failed) == (1, 1)

    now = utcnow()
    async with unit_of_work(database) as session:
        assert await purge_sent(session, now=now + timedelta(days=6)) == 0
    async with unit_of_work(database) as session:
        assert await purge_sent(session, now=now + timedelta(days=8)) == 1
    assert await _count(database) == 2
    async with unit_of_work(database) as session:
        assert await purge_sent(session, now=now + timedelta(days=31)) == 1
    async with database.sessionmaker() as session:
        remaining = set((await session.scalars(select(OutboxMessage.id))).all())
    assert remaining == {pending_id}
    assert sent_id not in remaining
    assert failed_id not in remaining
