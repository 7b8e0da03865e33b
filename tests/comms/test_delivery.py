"""Delivery against a real SMTP server (aiosmtpd on loopback) and into .eml files."""

from __future__ import annotations

import asyncio
import signal
import socket
import ssl
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
import structlog.testing
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from amanat.comms.delivery import MAX_ATTEMPTS, RETRY_CAP, deliver_due, retry_delay
from amanat.comms.models import OutboxMessage
from amanat.comms.outbox import due_messages, queue_email
from amanat.comms.transports import (
    DEFAULT_SENDER,
    EmlDirectoryTransport,
    SmtpTransport,
    transport_from_settings,
)
from amanat.comms.worker import run_worker
from amanat.core.clock import utcnow
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database, create_database, sessionmaker_for, unit_of_work
from amanat.core.errors import ConfigurationError
from amanat.core.migrations import upgrade_database
from amanat.core.runtime import open_runtime
from amanat.core.settings import Settings
from amanat.core.tls import server_ssl_context, tls_files
from tests.support.processes import amanat_env

ALICE = "alice.khan@example.com"
SUBJECT = "Your Amanat sign-in code"
BODY = "Hello Alice,\n\nyour code is 424242.\n"
RELAY_USER = "amanat@relay.test"
RELAY_PASSWORD = "p@ss:w/rd hunter2"
# aiosmtpd warns about auth_require_tls=False, which its implicit-TLS listener needs (see below).
SMTPS_AUTH_WARNING = "ignore:Requiring AUTH while not requiring TLS:UserWarning"


@dataclass
class CollectingHandler:
    """An aiosmtpd handler that keeps every message it accepts."""

    received: list[tuple[list[str], bytes]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.received.append((list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 Message accepted"

    def messages(self) -> list[EmailMessage]:
        parser = BytesParser(policy=policy.default)
        return [parser.parsebytes(content) for _, content in self.received]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _authenticate(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == RELAY_USER.encode()
        and auth_data.password == RELAY_PASSWORD.encode()
    )
    return AuthResult(success=ok)


@dataclass
class Relay:
    handler: CollectingHandler
    port: int


@pytest.fixture
def smtp_relay() -> Iterator[Relay]:
    handler = CollectingHandler()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield Relay(handler, port)
    finally:
        controller.stop()


@pytest.fixture
def server_tls(settings: Settings) -> ssl.SSLContext:
    """A context with a self-signed certificate for 127.0.0.1 (the development one)."""
    return server_ssl_context(tls_files(settings))


@pytest.fixture
def starttls_relay(server_tls: ssl.SSLContext) -> Iterator[Relay]:
    handler = CollectingHandler()
    port = _free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        tls_context=server_tls,
        require_starttls=True,
        authenticator=_authenticate,
        auth_required=True,
    )
    controller.start()
    try:
        yield Relay(handler, port)
    finally:
        controller.stop()


@pytest.fixture
def smtps_relay(server_tls: ssl.SSLContext) -> Iterator[Relay]:
    handler = CollectingHandler()
    port = _free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        ssl_context=server_tls,
        authenticator=_authenticate,
        auth_required=True,
        # aiosmtpd counts only STARTTLS as TLS; this listener speaks nothing but TLS.
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield Relay(handler, port)
    finally:
        controller.stop()


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


def _credentials() -> str:
    from urllib.parse import quote

    return f"{quote(RELAY_USER, safe='')}:{quote(RELAY_PASSWORD, safe='')}"


def _assert_is_the_mail(message: EmailMessage) -> None:
    assert message["To"] == ALICE
    assert message["Subject"] == SUBJECT
    assert message["From"] == "Amanat <no-reply@amanat.invalid>"
    assert message["Auto-Submitted"] == "auto-generated"
    body = message.get_content()
    assert isinstance(body, str)
    assert body.replace("\r\n", "\n") == BODY


# --- SMTP -----------------------------------------------------------------------------------


async def test_queued_mail_is_delivered_once_over_smtp_and_marked_sent(
    database: Database, test_keyring: MasterKeyring, smtp_relay: Relay
) -> None:
    message_id = await _queue(database, test_keyring)
    transport = SmtpTransport(f"smtp://127.0.0.1:{smtp_relay.port}")

    report = await deliver_due(database, test_keyring, transport)

    assert (report.claimed, report.sent) == (1, 1)
    assert len(smtp_relay.handler.received) == 1
    recipients, _ = smtp_relay.handler.received[0]
    assert recipients == [ALICE]
    message = smtp_relay.handler.messages()[0]
    _assert_is_the_mail(message)
    assert message["Message-ID"] == f"<{message_id}@amanat.invalid>"
    row = await _row(database, message_id)
    assert (row.status, row.attempts, row.last_error) == ("sent", 1, None)
    assert row.sent_at is not None


async def test_a_second_round_does_not_send_again(
    database: Database, test_keyring: MasterKeyring, smtp_relay: Relay
) -> None:
    await _queue(database, test_keyring)
    transport = SmtpTransport(f"smtp://127.0.0.1:{smtp_relay.port}")
    first = await deliver_due(database, test_keyring, transport)
    second = await deliver_due(database, test_keyring, transport, now=utcnow() + timedelta(days=1))
    assert (first.sent, second.claimed) == (1, 0)
    assert len(smtp_relay.handler.received) == 1


async def test_batch_limits_one_round(
    database: Database, test_keyring: MasterKeyring, smtp_relay: Relay
) -> None:
    for n in range(3):
        await _queue(database, test_keyring, to=f"user{n}@example.com")
    transport = SmtpTransport(f"smtp://127.0.0.1:{smtp_relay.port}")
    assert (await deliver_due(database, test_keyring, transport, batch=2)).sent == 2
    assert (await deliver_due(database, test_keyring, transport, batch=2)).sent == 1
    assert sorted(r[0][0] for r in smtp_relay.handler.received) == [
        "user0@example.com",
        "user1@example.com",
        "user2@example.com",
    ]


@pytest.mark.asvs("V12.3.1", "V12.3.2")
async def test_starttls_with_credentials_delivers_when_verification_is_off_on_loopback(
    database: Database, test_keyring: MasterKeyring, starttls_relay: Relay
) -> None:
    message_id = await _queue(database, test_keyring)
    transport = SmtpTransport(
        f"smtp+starttls://{_credentials()}@127.0.0.1:{starttls_relay.port}?verify=off"
    )
    report = await deliver_due(database, test_keyring, transport)
    assert report.sent == 1
    _assert_is_the_mail(starttls_relay.handler.messages()[0])
    assert (await _row(database, message_id)).status == "sent"


@pytest.mark.asvs("V12.3.1", "V12.3.2")
@pytest.mark.filterwarnings(SMTPS_AUTH_WARNING)
async def test_implicit_tls_with_credentials_delivers_when_verification_is_off_on_loopback(
    database: Database, test_keyring: MasterKeyring, smtps_relay: Relay
) -> None:
    await _queue(database, test_keyring)
    transport = SmtpTransport(f"smtps://{_credentials()}@127.0.0.1:{smtps_relay.port}?verify=off")
    assert (await deliver_due(database, test_keyring, transport)).sent == 1
    _assert_is_the_mail(smtps_relay.handler.messages()[0])


@pytest.mark.asvs("V12.3.1", "V12.3.2")
@pytest.mark.filterwarnings(SMTPS_AUTH_WARNING)
@pytest.mark.parametrize("scheme", ["smtp+starttls", "smtps"])
async def test_untrusted_certificate_is_refused_by_default(
    database: Database,
    test_keyring: MasterKeyring,
    starttls_relay: Relay,
    smtps_relay: Relay,
    scheme: str,
) -> None:
    relay = starttls_relay if scheme == "smtp+starttls" else smtps_relay
    message_id = await _queue(database, test_keyring)
    transport = SmtpTransport(f"{scheme}://{_credentials()}@127.0.0.1:{relay.port}")
    report = await deliver_due(database, test_keyring, transport)
    assert report.retrying == 1
    assert relay.handler.received == []
    row = await _row(database, message_id)
    assert (row.status, row.attempts) == ("pending", 1)


async def test_relay_down_schedules_a_retry_with_an_error_code_only(
    database: Database, test_keyring: MasterKeyring
) -> None:
    message_id = await _queue(database, test_keyring)
    transport = SmtpTransport(f"smtp://127.0.0.1:{_free_port()}")  # nothing listens there
    now = utcnow()

    with structlog.testing.capture_logs() as logs:
        report = await deliver_due(database, test_keyring, transport, now=now)

    assert report.retrying == 1
    row = await _row(database, message_id)
    assert (row.status, row.attempts, row.sent_at) == ("pending", 1, None)
    assert now + timedelta(seconds=47) <= row.next_attempt_at <= now + timedelta(minutes=1)
    assert row.last_error is not None
    assert row.last_error.isidentifier()
    assert "alice" not in row.last_error
    assert [entry["outcome"] for entry in logs] == ["retrying"]
    assert logs[0]["message_id"] == message_id
    assert logs[0]["error"] == row.last_error


async def test_mail_fails_for_good_after_ten_attempts(
    database: Database, test_keyring: MasterKeyring
) -> None:
    message_id = await _queue(database, test_keyring)
    transport = SmtpTransport(f"smtp://127.0.0.1:{_free_port()}")
    now: datetime = utcnow()
    for attempt in range(1, MAX_ATTEMPTS + 1):
        report = await deliver_due(database, test_keyring, transport, now=now)
        assert report.claimed == 1
        row = await _row(database, message_id)
        assert row.attempts == attempt
        now = row.next_attempt_at + timedelta(seconds=1)
    assert row.status == "failed"
    assert (await deliver_due(database, test_keyring, transport, now=now)).claimed == 0


def test_retry_delay_doubles_from_one_minute_to_at_most_six_hours() -> None:
    for attempts, nominal in [
        (1, 60),
        (2, 120),
        (3, 240),
        (9, 256 * 60),
        (10, 6 * 3600),
        (50, 6 * 3600),
    ]:
        delay = retry_delay(attempts).total_seconds()
        assert nominal * 0.8 <= delay <= nominal
    assert retry_delay(100) <= RETRY_CAP


async def test_mail_sealed_under_an_unknown_key_fails_at_once(
    database: Database, test_keyring: MasterKeyring, smtp_relay: Relay
) -> None:
    message_id = await _queue(database, MasterKeyring.generate().with_new_version())
    transport = SmtpTransport(f"smtp://127.0.0.1:{smtp_relay.port}")
    assert (await deliver_due(database, test_keyring, transport)).failed == 1
    row = await _row(database, message_id)
    assert (row.status, row.last_error) == ("failed", "DecryptionError")
    assert smtp_relay.handler.received == []


@pytest.mark.asvs("V16.2.5")
async def test_delivery_log_names_the_message_not_the_person(
    database: Database, test_keyring: MasterKeyring, smtp_relay: Relay
) -> None:
    message_id = await _queue(database, test_keyring)
    transport = SmtpTransport(f"smtp://127.0.0.1:{smtp_relay.port}")
    with structlog.testing.capture_logs() as logs:
        await deliver_due(database, test_keyring, transport)
    assert len(logs) == 1
    assert logs[0]["message_id"] == message_id
    assert logs[0]["category"] == "account"
    assert logs[0]["outcome"] == "sent"
    flat = repr(logs)
    for secret in ("alice", "example.com", SUBJECT, "424242"):
        assert secret not in flat


# --- SMTP URL -------------------------------------------------------------------------------


@pytest.mark.asvs("V12.3.1", "V13.2.4")
@pytest.mark.parametrize(
    "url",
    [
        "http://relay.example.com",
        "smtp://relay.example.com:25",  # plain text to a remote host
        "smtp://user:hunter2@127.0.0.1:25",  # credentials in the clear
        "smtps://relay.example.com?verify=off",  # verification off for a remote host
        "smtps://relay.example.com?verify=maybe",
        "smtps://relay.example.com?verify=on&verify=off",
        "smtps://relay.example.com?timeout=3",
        "smtps://relay.example.com/path",
        "smtps://user:hunter2@relay.example.com:0",
        "smtps://user:hunter2@relay.example.com:99999",
        "smtps://user@relay.example.com",
        "smtps://",
    ],
)
def test_unsafe_or_malformed_smtp_urls_are_refused_without_echoing_them(url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        SmtpTransport(url)
    assert "hunter2" not in caught.value.message
    assert "AMANAT_SMTP_URL" in caught.value.message


@pytest.mark.parametrize(
    ("url", "security", "host", "port", "verify"),
    [
        ("smtp://127.0.0.1", "plain", "127.0.0.1", 25, True),
        ("smtp://localhost:2525", "plain", "localhost", 2525, True),
        ("smtp+starttls://u:hunter2@relay.example.com", "starttls", "relay.example.com", 587, True),
        ("smtps://u:hunter2@relay.example.com", "tls", "relay.example.com", 465, True),
        ("SMTPS://u:hunter2@[::1]:1465?verify=off", "tls", "::1", 1465, False),
    ],
)
def test_smtp_urls_are_understood(
    url: str, security: str, host: str, port: int, verify: bool
) -> None:
    transport = SmtpTransport(url)
    assert (transport.security, transport.host, transport.port, transport.verify) == (
        security,
        host,
        port,
        verify,
    )
    assert "hunter2" not in repr(transport)


@pytest.mark.asvs("V12.3.1")
def test_tls_context_checks_certificates_and_host_names_by_default() -> None:
    context = SmtpTransport("smtps://u:p@relay.example.com").tls_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


def test_settings_choose_the_transport(settings: Settings) -> None:
    default = transport_from_settings(settings)
    assert isinstance(default, EmlDirectoryTransport)
    assert default.directory == settings.data_dir / "mail"
    with_smtp = settings.model_copy(update={"smtp_url": "smtps://u:p@relay.example.com"})
    assert isinstance(transport_from_settings(with_smtp), SmtpTransport)


def test_sender_with_line_breaks_is_refused() -> None:
    with pytest.raises(ValueError, match="line breaks"):
        SmtpTransport("smtp://127.0.0.1", sender="a@b.test\r\nBcc: x@y.test")


# --- .eml files -----------------------------------------------------------------------------


async def test_eml_transport_writes_one_private_parseable_file(
    database: Database, test_keyring: MasterKeyring, tmp_path: Path
) -> None:
    directory = tmp_path / "data" / "mail"
    message_id = await _queue(database, test_keyring)

    report = await deliver_due(database, test_keyring, EmlDirectoryTransport(directory))

    assert report.sent == 1
    files = list(directory.iterdir())
    assert len(files) == 1
    (path,) = files
    assert path.suffix == ".eml"
    assert "alice" not in path.name
    assert path.stat().st_mode & 0o777 == 0o600
    assert directory.stat().st_mode & 0o777 == 0o700
    message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    assert isinstance(message, EmailMessage)
    _assert_is_the_mail(message)
    assert message["Message-ID"] == f"<{message_id}@amanat.invalid>"
    assert (await _row(database, message_id)).status == "sent"


# --- the worker loop ------------------------------------------------------------------------


async def _wait_for(predicate: Any, within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_worker_delivers_until_stopped(
    database: Database, test_keyring: MasterKeyring, tmp_path: Path
) -> None:
    directory = tmp_path / "mail"
    await _queue(database, test_keyring)
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_worker(
            database, test_keyring, EmlDirectoryTransport(directory), stop=stop, interval=0.05
        )
    )
    await _wait_for(lambda: directory.exists() and any(directory.glob("*.eml")))
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert len(list(directory.glob("*.eml"))) == 1


async def test_worker_logs_a_failed_round_and_carries_on(
    database: Database, test_keyring: MasterKeyring, tmp_path: Path
) -> None:
    calls = 0
    real = database.sessionmaker

    def flaky_sessionmaker() -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database went away; alice.khan@example.com")
        return real()

    flaky = Database(engine=database.engine, sessionmaker=flaky_sessionmaker)  # type: ignore[arg-type]
    directory = tmp_path / "mail"
    await _queue(database, test_keyring)
    stop = asyncio.Event()
    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(
            run_worker(
                flaky, test_keyring, EmlDirectoryTransport(directory), stop=stop, interval=0.05
            )
        )
        await _wait_for(lambda: directory.exists() and any(directory.glob("*.eml")))
        stop.set()
        await asyncio.wait_for(task, timeout=5)
    failures = [entry for entry in logs if entry["event"] == "worker_round_failed"]
    assert len(failures) == 1
    assert failures[0]["error"] == "RuntimeError"
    assert "alice" not in repr(logs)


async def test_workers_on_postgresql_never_claim_the_same_row(
    migrated_engines: dict[str, AsyncEngine], test_keyring: MasterKeyring
) -> None:
    if "postgres" not in migrated_engines:
        pytest.skip("PostgreSQL is not among AMANAT_TEST_BACKENDS")
    # Two real connections need committed rows; they are deleted again in `finally`.
    engine = migrated_engines["postgres"]
    shared = Database(engine=engine, sessionmaker=sessionmaker_for(engine))
    ids = [await _queue(shared, test_keyring, to=f"user{n}@example.com") for n in range(4)]
    try:
        now = utcnow()
        async with shared.sessionmaker() as first, shared.sessionmaker() as second:
            mine = {row.id for row in await due_messages(first, now, 2)} & set(ids)
            theirs = {row.id for row in await due_messages(second, now, 10)} & set(ids)
            assert len(mine) == 2
            assert mine.isdisjoint(theirs)
            assert mine | theirs == set(ids)
            await first.rollback()
            await second.rollback()
    finally:
        async with unit_of_work(shared) as session:
            await session.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(ids)))


async def _read_line_with(stream: asyncio.StreamReader, needle: str, lines: list[str]) -> None:
    async with asyncio.timeout(60):
        while True:
            raw = await stream.readline()
            assert raw, f"the worker ended before printing {needle!r}"
            lines.append(raw.decode())
            if needle in lines[-1]:
                return


async def test_worker_command_delivers_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import typer; from amanat.cli.worker import worker; typer.run(worker)",
        env=amanat_env(data_dir),
        cwd=tmp_path,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None
    lines: list[str] = []
    try:
        await _read_line_with(child.stdout, "worker_started", lines)
        runtime = await open_runtime(Settings(data_dir=data_dir))
        try:
            await _queue(runtime.database, runtime.keyring)
        finally:
            await runtime.database.dispose()
        await _read_line_with(child.stdout, "outbox_delivery", lines)
        child.send_signal(signal.SIGTERM)
        rest, errors = await asyncio.wait_for(child.communicate(), timeout=30)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    output = "".join(lines) + rest.decode()
    assert child.returncode == 0, errors.decode()
    assert '"outcome": "sent"' in output
    assert "worker_stopped" in output
    assert "alice" not in output + errors.decode()
    (eml,) = (data_dir / "mail").glob("*.eml")
    assert eml.stat().st_mode & 0o777 == 0o600


@dataclass
class BusyWebsiteTransport:
    """Writes .eml files, and while each send is in flight another connection writes too."""

    inner: EmlDirectoryTransport
    other: Database
    ring: MasterKeyring
    sender: str = DEFAULT_SENDER

    async def send(self, message: EmailMessage) -> None:
        await self.inner.send(message)
        await _queue(self.other, self.ring, to="someone.else@example.com")


async def test_embedded_delivery_survives_writes_from_other_connections(
    tmp_path: Path, test_keyring: MasterKeyring
) -> None:
    # A real SQLite file with two engines, as `amanat serve` and its in-process worker have:
    # a web request writing while mail is being sent must not undo the round (and so send it
    # all again on the next one).
    url = f"sqlite+aiosqlite:///{tmp_path / 'amanat.db'}"
    worker_db, web_db = create_database(url), create_database(url)
    try:
        await upgrade_database(worker_db.engine)
        first = await _queue(worker_db, test_keyring)
        second = await _queue(worker_db, test_keyring, to="bob@example.com")
        transport = BusyWebsiteTransport(
            EmlDirectoryTransport(tmp_path / "mail"), web_db, test_keyring
        )
        report = await deliver_due(worker_db, test_keyring, transport, now=utcnow())
        assert (report.claimed, report.sent) == (2, 2)
        assert (await _row(worker_db, first)).status == "sent"
        assert (await _row(worker_db, second)).status == "sent"
        assert len(list((tmp_path / "mail").glob("*.eml"))) == 2
    finally:
        await worker_db.dispose()
        await web_db.dispose()
