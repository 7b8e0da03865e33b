"""Delivering the outbox: build RFC 5322 mail and hand it to a transport, with retry and backoff.

Transports:

- ``EmlDirectoryTransport`` (embedded default): one ``.eml`` file per mail in
  ``<data_dir>/mail/``, mode 0600. The files hold addresses and text in the clear, like any
  mail spool; they are for development and single-machine trials.
- ``SmtpTransport`` (``AMANAT_SMTP_URL``): the one outbound connection this module makes, to
  the configured relay and nowhere else (no MX look-ups; SMTP has no redirects to follow).
  TLS with certificate and host-name checks, TLS 1.2 minimum; plain SMTP only to a relay on
  loopback.

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

import asyncio
import ipaddress
import secrets
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, getaddresses
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.comms.models import OutboxMessage
from amanat.comms.outbox import EmailMessageData, decrypt_message, due_messages
from amanat.core.clock import utcnow
from amanat.core.crypto import DecryptionError, MasterKeyring
from amanat.core.db import Database, unit_of_work
from amanat.core.errors import ConfigurationError
from amanat.core.files import write_private_file
from amanat.core.logging import get_logger
from amanat.core.settings import Settings

__all__ = [
    "DEFAULT_SENDER",
    "MAX_ATTEMPTS",
    "DeliveryReport",
    "EmlDirectoryTransport",
    "MailTransport",
    "SmtpTransport",
    "build_email",
    "deliver_due",
    "retry_delay",
    "transport_from_settings",
]

DEFAULT_SENDER = "Amanat <no-reply@amanat.invalid>"
MAX_ATTEMPTS = 10
RETRY_BASE = timedelta(minutes=1)
RETRY_CAP = timedelta(hours=6)
# Up to 20% earlier than the nominal delay, so messages that failed together (a relay outage)
# do not all retry in the same second.
RETRY_JITTER = 0.2
SMTP_TIMEOUT_SECONDS = 30.0

_LOG_NAME = "amanat.outbox"


class MailTransport(Protocol):
    """Where built mail goes. ``send`` raises on failure; any exception means "retry later"."""

    @property
    def sender(self) -> str: ...

    async def send(self, message: EmailMessage) -> None: ...


def _sender_address(sender: str) -> Address:
    if any(ch in sender for ch in ("\r", "\n", "\x00")):
        raise ValueError("sender must not contain line breaks")
    addresses = getaddresses([sender])
    if len(addresses) != 1 or "@" not in addresses[0][1]:
        raise ValueError("sender must be exactly one email address")
    display, spec = addresses[0]
    local, _, domain = spec.rpartition("@")
    return Address(display_name=display, username=local, domain=domain)


def build_email(
    mail: EmailMessageData, *, sender: str, message_id: str, date: datetime
) -> EmailMessage:
    """An RFC 5322 message; headers go through ``EmailMessage``, which refuses CR/LF."""
    from_address = _sender_address(sender)
    message = EmailMessage()
    message["From"] = from_address
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(date)
    message["Message-ID"] = f"<{message_id}@{from_address.domain or 'amanat.invalid'}>"
    # RFC 3834: tells auto-responders and vacation replies not to answer.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(mail.body)
    return message


def _recipients(message: EmailMessage) -> list[str]:
    return [address for _, address in getaddresses(message.get_all("To", []))]


class EmlDirectoryTransport:
    """Writes each mail as an ``.eml`` file (0600) in ``directory``; names are ours, random."""

    def __init__(self, directory: Path, *, sender: str = DEFAULT_SENDER) -> None:
        _sender_address(sender)
        self.directory = directory
        self.sender = sender

    def __repr__(self) -> str:
        return f"EmlDirectoryTransport(directory={str(self.directory)!r})"

    async def send(self, message: EmailMessage) -> None:
        data = message.as_bytes(policy=SMTP)
        await asyncio.to_thread(self._write, data)

    def _write(self, data: bytes) -> Path:
        return write_private_file(self.directory, ".eml", data)


_Security = Literal["plain", "starttls", "tls"]
_SCHEMES: dict[str, tuple[_Security, int]] = {
    "smtp": ("plain", 25),
    "smtp+starttls": ("starttls", 587),
    "smtps": ("tls", 465),
}


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_error(reason: str) -> ConfigurationError:
    # Never echo the URL: it may carry the relay password.
    return ConfigurationError(f"invalid setting AMANAT_SMTP_URL: {reason}", code="smtp_url_invalid")


class SmtpTransport:
    """Sends through the relay named by an ``smtp://``, ``smtp+starttls://`` or ``smtps://`` URL.

    ``?verify=off`` turns certificate checks off and is accepted for loopback hosts only,
    for tests against a self-signed server. Plain ``smtp://`` is likewise loopback only
    (a local relay that does TLS onward) and takes no credentials.
    """

    def __init__(
        self,
        url: str,
        *,
        sender: str = DEFAULT_SENDER,
        timeout: float = SMTP_TIMEOUT_SECONDS,
    ) -> None:
        self.sender = sender
        self._envelope_sender = _sender_address(sender).addr_spec
        self.timeout = timeout
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError:
            raise _url_error("not a valid URL or port") from None
        scheme = parts.scheme.lower()
        if scheme not in _SCHEMES:
            raise _url_error("the scheme must be smtp, smtp+starttls or smtps")
        self.security, default_port = _SCHEMES[scheme]
        if not parts.hostname:
            raise _url_error("no host")
        self.host = parts.hostname
        if port == 0:
            raise _url_error("the port must be 1-65535")
        self.port = port or default_port
        if parts.path not in ("", "/") or parts.fragment:
            raise _url_error("no path or fragment is allowed")
        self.verify = self._parse_verify(parts.query)
        self._username = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        if (self._username is None) != (self._password is None):
            raise _url_error("give both a user name and a password, or neither")
        loopback = _is_loopback(self.host)
        if not self.verify and not loopback:
            raise _url_error("verify=off is allowed only for a loopback host")
        if self.security == "plain":
            if not loopback:
                raise _url_error(
                    "plain smtp:// is allowed only to a loopback relay; "
                    "use smtp+starttls:// or smtps://"
                )
            if self._username is not None:
                raise _url_error("credentials need smtp+starttls:// or smtps://")

    @staticmethod
    def _parse_verify(query: str) -> bool:
        if not query:
            return True
        try:
            options = parse_qs(query, keep_blank_values=True, strict_parsing=True)
        except ValueError:
            raise _url_error("malformed query") from None
        if set(options) - {"verify"}:
            raise _url_error("the only option is verify=on|off")
        values = options.get("verify", ["on"])
        if len(values) != 1 or values[0] not in ("on", "off"):
            raise _url_error("verify must be given once, as on or off")
        return values[0] == "on"

    def __repr__(self) -> str:
        user = ", with credentials" if self._username else ""
        return (
            f"SmtpTransport({self.security} {self.host}:{self.port}, "
            f"verify={'on' if self.verify else 'off'}{user})"
        )

    def tls_context(self) -> ssl.SSLContext:
        """The client context: system trust store, host-name check, TLS 1.2 minimum."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    async def send(self, message: EmailMessage) -> None:
        uses_tls = self.security != "plain"
        await aiosmtplib.send(
            message,
            sender=self._envelope_sender,
            recipients=_recipients(message),
            hostname=self.host,
            port=self.port,
            username=self._username,
            password=self._password,
            use_tls=self.security == "tls",
            # True, never None: a relay that stops offering STARTTLS must fail, not downgrade.
            start_tls=self.security == "starttls",
            validate_certs=self.verify,
            tls_context=self.tls_context() if uses_tls else None,
            timeout=self.timeout,
        )


def transport_from_settings(settings: Settings) -> MailTransport:
    """SMTP when ``AMANAT_SMTP_URL`` is set, else ``.eml`` files in ``<data_dir>/mail``."""
    if settings.smtp_url:
        return SmtpTransport(settings.smtp_url)
    return EmlDirectoryTransport(settings.data_dir / "mail")


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
