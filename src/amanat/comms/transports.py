"""Mail transports: where a built message goes.

- ``EmlDirectoryTransport`` (embedded default): one ``.eml`` file per mail in
  ``<data_dir>/mail/``, mode 0600. The files hold addresses and text in the clear, like any
  mail spool; they are for development and single-machine trials.
- ``SmtpTransport`` (``AMANAT_SMTP_URL``): the one outbound connection this module makes, to
  the configured relay and nowhere else (no MX look-ups; SMTP has no redirects to follow).
  TLS with certificate and host-name checks, TLS 1.2 minimum; plain SMTP only to a relay on
  loopback.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, getaddresses
from pathlib import Path
from typing import Literal, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
import idna  # email-validator's own IDNA (2008) library

from amanat.comms.outbox import EmailMessageData
from amanat.core.errors import ConfigurationError
from amanat.core.files import write_private_file
from amanat.core.settings import Settings

_Security = Literal["plain", "starttls", "tls"]


_SCHEMES: dict[str, tuple[_Security, int]] = {
    "smtp": ("plain", 25),
    "smtp+starttls": ("starttls", 587),
    "smtps": ("tls", 465),
}

DEFAULT_SENDER = "Amanat <no-reply@amanat.invalid>"


SMTP_TIMEOUT_SECONDS = 30.0


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


def _recipient(to: str) -> str:
    """The address as a header may carry it: an internationalized domain as its IDNA A-label
    (`user@xn--mller-kva.de`), never RFC 2047 encoded words, which RFC 2047 §5 forbids in an
    address. People's addresses are stored so already; this covers any stored before."""
    local, at, domain = to.rpartition("@")
    if to.isascii() or not at or not local.isascii():
        return to
    try:
        return f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}"
    except idna.IDNAError:
        return to


def build_email(
    mail: EmailMessageData, *, sender: str, message_id: str, date: datetime
) -> EmailMessage:
    """An RFC 5322 message; headers go through ``EmailMessage``, which refuses CR/LF."""
    from_address = _sender_address(sender)
    message = EmailMessage()
    message["From"] = from_address
    message["To"] = _recipient(mail.to)
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
