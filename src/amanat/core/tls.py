"""TLS for `amanat serve`: the operator's certificate, or a development certificate we make once.

The development certificate is self-signed for 127.0.0.1, ::1 and localhost, kept in the data
directory (key 0600) and reused until a month before it expires.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from amanat.core.clock import utcnow
from amanat.core.errors import ConfigurationError
from amanat.core.settings import Settings

DEV_CERT_VALIDITY = timedelta(days=365)
DEV_CERT_RENEW_BEFORE = timedelta(days=30)
# TLS 1.2 suites with forward secrecy and AEAD only; TLS 1.3 suites are all strong (V12.1.2).
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


@dataclass(frozen=True)
class TLSFiles:
    cert: Path
    key: Path
    generated: bool


def tls_files(settings: Settings) -> TLSFiles:
    """The certificate pair to serve with, making the development one when none is configured."""
    if settings.tls_cert is not None and settings.tls_key is not None:
        for path in (settings.tls_cert, settings.tls_key):
            if not path.is_file():
                raise ConfigurationError(f"TLS file not found: {path}", code="tls_missing")
        return TLSFiles(settings.tls_cert, settings.tls_key, generated=False)
    directory = settings.data_dir / "tls"
    cert, key = directory / "dev-cert.pem", directory / "dev-key.pem"
    if not _usable(cert, key):
        _write_dev_certificate(directory, cert, key)
    return TLSFiles(cert, key, generated=True)


def server_ssl_context(files: TLSFiles) -> ssl.SSLContext:
    """The server context: TLS 1.2 minimum, strong suites; also proves the pair loads."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    try:
        context.load_cert_chain(str(files.cert), str(files.key))
    except (ssl.SSLError, OSError) as exc:
        raise ConfigurationError(
            f"cannot load TLS certificate {files.cert} with key {files.key}: {exc}",
            code="tls_invalid",
        ) from None
    return context


def _usable(cert_path: Path, key_path: Path) -> bool:
    if not (cert_path.is_file() and key_path.is_file()):
        return False
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except ValueError:
        return False
    return cert.not_valid_after_utc - utcnow() > DEV_CERT_RENEW_BEFORE


def _write_dev_certificate(directory: Path, cert_path: Path, key_path: Path) -> None:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Amanat development")])
    now = utcnow()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + DEV_CERT_VALIDITY)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_private(key_path, key_bytes)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _write_private(path: Path, data: bytes) -> None:
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(temporary, path)
