"""Versioned master keys: where they come from, how they rotate, what is derived from them.

A master key never encrypts data directly. Every use gets its own HKDF subkey
(``derive_subkey``), so a wrapping key, a blind-index key and a canary key made from the
same master version are cryptographically independent.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import os
import re
import secrets
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from amanat.core.files import fsync_directory

MASTER_KEY_SIZE = 32
KEY_FILE_FORMAT = 1

# A key file is a few hundred bytes; anything far larger is not ours and is not read whole.
_MAX_KEY_FILE_SIZE = 1 << 20
_B64_RE = re.compile(r"[A-Za-z0-9_-]+={0,2}")
_VERSION_RE = re.compile(r"[1-9][0-9]{0,8}")


class KeyringError(Exception):
    """A master key could not be loaded or used.

    ``code`` is stable for machines; the message is for operators and never holds key
    material, so it is safe to log and to show at start-up. Codes: ``key_missing``,
    ``key_malformed``, ``key_file_insecure``, ``key_file_unreadable``,
    ``key_file_unwritable``, ``key_version_unknown``, ``key_version_current``, and
    ``key_wrong`` (raised by callers when a stored key canary does not verify).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"KeyringError(code={self.code!r}, message={self.message!r})"


@dataclass(frozen=True, repr=False)
class MasterKeyring:
    """All configured master key versions; ``current_version`` wraps new data keys.

    Older versions stay only so that data keys wrapped under them can be unwrapped and
    rewrapped; once nothing refers to a version it is retired with ``without_version``.
    """

    # repr=False: a keyring printed in a traceback or log line must not leak its keys.
    versions: Mapping[int, bytes] = field(repr=False)
    current_version: int

    def __post_init__(self) -> None:
        if not self.versions:
            raise KeyringError("key_malformed", "the keyring holds no master key")
        for version, key in self.versions.items():
            if isinstance(version, bool) or not isinstance(version, int) or version < 1:
                raise KeyringError("key_malformed", "master key versions must be positive integers")
            if not isinstance(key, bytes) or len(key) != MASTER_KEY_SIZE:
                raise KeyringError(
                    "key_malformed",
                    f"master key version {version} must be exactly {MASTER_KEY_SIZE} bytes",
                )
        if self.current_version not in self.versions:
            raise KeyringError(
                "key_malformed",
                f"current master key version {self.current_version} is not in the keyring",
            )
        # Copy, then freeze: a caller mutating its own dict later must not change the ring.
        object.__setattr__(self, "versions", MappingProxyType(dict(self.versions)))
        object.__setattr__(self, "_subkeys", {})

    def __repr__(self) -> str:
        return (
            f"MasterKeyring(versions={sorted(self.versions)}, "
            f"current_version={self.current_version})"
        )

    @classmethod
    def generate(cls) -> MasterKeyring:
        """A new keyring with one fresh random key as version 1."""
        return cls(versions={1: secrets.token_bytes(MASTER_KEY_SIZE)}, current_version=1)

    def current(self) -> tuple[int, bytes]:
        """The version and key that new data keys are wrapped with."""
        return self.current_version, self.versions[self.current_version]

    def get(self, version: int) -> bytes:
        """The master key of ``version``; ``key_version_unknown`` if it is not configured."""
        try:
            return self.versions[version]
        except KeyError:
            raise KeyringError(
                "key_version_unknown", f"master key version {version} is not configured"
            ) from None

    def with_new_version(self) -> MasterKeyring:
        """A copy with a fresh random key as version max+1, made current (rotation)."""
        new_version = max(self.versions) + 1
        versions = dict(self.versions)
        versions[new_version] = secrets.token_bytes(MASTER_KEY_SIZE)
        return MasterKeyring(versions=versions, current_version=new_version)

    def without_version(self, version: int) -> MasterKeyring:
        """A copy without ``version``; the current version cannot be retired."""
        if version == self.current_version:
            raise KeyringError(
                "key_version_current",
                f"master key version {version} is current and cannot be retired",
            )
        self.get(version)
        versions = {v: k for v, k in self.versions.items() if v != version}
        return MasterKeyring(versions=versions, current_version=self.current_version)

    def subkey(self, version: int, purpose: str) -> bytes:
        """`derive_subkey` of version's key for `purpose`, derived once per ring: every request
        and every row of a bulk job asks for the same few, and HKDF is not free."""
        subkeys: dict[tuple[int, str], bytes] = self.__dict__["_subkeys"]
        found = subkeys.get((version, purpose))
        if found is None:
            found = subkeys[(version, purpose)] = derive_subkey(self.get(version), purpose)
        return found

    def fingerprint(self, version: int) -> str:
        """A short public id of a key version, safe for logs and the database."""
        # Hashing a derived subkey rather than the key itself keeps the fingerprint
        # unrelated to any value that is ever used to encrypt or to index.
        subkey = derive_subkey(self.get(version), "fingerprint")
        return hashlib.sha256(subkey).hexdigest()[:16]


def derive_subkey(master: bytes, purpose: str, length: int = 32) -> bytes:
    """An independent key for one ``purpose`` (HKDF-SHA256, info ``amanat/<purpose>``)."""
    if len(master) < MASTER_KEY_SIZE:
        raise ValueError(f"master key must be at least {MASTER_KEY_SIZE} bytes")
    if not purpose:
        raise ValueError("purpose must not be empty")
    # No salt: HKDF's salt exists to extract entropy from a non-uniform secret (such as a
    # Diffie-Hellman output). Master keys are 32 uniformly random bytes, so the extract
    # step has nothing to fix and the info string alone separates the purposes (RFC 5869 §3.1).
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=length,
        salt=None,
        info=b"amanat/" + purpose.encode("utf-8"),
    )
    return hkdf.derive(master)


def length_prefixed(parts: Iterable[str]) -> bytes:
    """Encode strings so that no two different tuples share an encoding.

    Each part is its UTF-8 bytes preceded by their length as 4 big-endian bytes, so
    ("a", "bc") and ("ab", "c") stay apart; used for AAD and blind-index input.
    """
    out = bytearray()
    for part in parts:
        encoded = part.encode("utf-8")
        out += len(encoded).to_bytes(4, "big")
        out += encoded
    return bytes(out)


def _encode_key(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode("ascii")


def _decode_key(text: str, where: str) -> bytes:
    # The message names where the bad value is, never the value: it may be a real key
    # with one character mistyped.
    text = text.strip()
    if not _B64_RE.fullmatch(text):
        raise KeyringError("key_malformed", f"{where}: not URL-safe base64")
    try:
        key = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise KeyringError("key_malformed", f"{where}: not URL-safe base64") from None
    if len(key) != MASTER_KEY_SIZE:
        raise KeyringError(
            "key_malformed", f"{where}: a master key must decode to {MASTER_KEY_SIZE} bytes"
        )
    return key


def parse_master_key_env(value: str) -> MasterKeyring:
    """Parse ``AMANAT_MASTER_KEY``: ``"1:<b64>,2:<b64>"`` or one bare ``<b64>`` (version 1).

    The last listed version is current; listing them in ascending order, as
    ``format_master_key_env`` does, makes that the highest one.
    """
    entries = [entry.strip() for entry in value.split(",")]
    if not value.strip() or any(not entry for entry in entries):
        raise KeyringError("key_malformed", "AMANAT_MASTER_KEY is empty or has an empty entry")
    if len(entries) == 1 and ":" not in entries[0]:
        key = _decode_key(entries[0], "AMANAT_MASTER_KEY")
        return MasterKeyring(versions={1: key}, current_version=1)
    versions: dict[int, bytes] = {}
    last_version = 0
    for position, entry in enumerate(entries, start=1):
        where = f"AMANAT_MASTER_KEY entry {position}"
        version_text, sep, key_text = entry.partition(":")
        if not sep or not _VERSION_RE.fullmatch(version_text.strip()):
            raise KeyringError(
                "key_malformed", f"{where}: expected <version>:<base64 key>, version >= 1"
            )
        version = int(version_text)
        if version in versions:
            raise KeyringError("key_malformed", f"{where}: version {version} is listed twice")
        versions[version] = _decode_key(key_text, where)
        last_version = version
    return MasterKeyring(versions=versions, current_version=last_version)


def format_master_key_env(ring: MasterKeyring) -> str:
    """The ``AMANAT_MASTER_KEY`` value for ``ring`` (inverse of ``parse_master_key_env``)."""
    order = sorted(v for v in ring.versions if v != ring.current_version)
    order.append(ring.current_version)
    return ",".join(f"{v}:{_encode_key(ring.versions[v])}" for v in order)


def _key_file_bytes(ring: MasterKeyring) -> bytes:
    document = {
        "format": KEY_FILE_FORMAT,
        "current": ring.current_version,
        "keys": {str(v): _encode_key(k) for v, k in sorted(ring.versions.items())},
    }
    return (json.dumps(document, indent=2) + "\n").encode("utf-8")


def _parse_key_file(raw: bytes, path: Path) -> MasterKeyring:
    def malformed(reason: str) -> KeyringError:
        return KeyringError("key_malformed", f"key file {path}: {reason}")

    try:
        document: Any = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise malformed("not valid JSON") from None
    if not isinstance(document, dict):
        raise malformed("expected a JSON object")
    # type() rather than isinstance: JSON true and 1.0 must not pass for the integer 1.
    if type(document.get("format")) is not int or document["format"] != KEY_FILE_FORMAT:
        raise malformed(f"unsupported format (expected {KEY_FILE_FORMAT})")
    current = document.get("current")
    if type(current) is not int:
        raise malformed('"current" must be an integer')
    keys = document.get("keys")
    if not isinstance(keys, dict) or not keys:
        raise malformed('"keys" must be a non-empty object')
    versions: dict[int, bytes] = {}
    for version_text, key_text in keys.items():
        if not _VERSION_RE.fullmatch(version_text):
            raise malformed('"keys" names must be versions >= 1')
        if not isinstance(key_text, str):
            raise malformed(f"key {version_text} must be a base64 string")
        versions[int(version_text)] = _decode_key(key_text, f"key file {path} key {version_text}")
    if current not in versions:
        raise malformed(f'"current" version {current} has no key')
    return MasterKeyring(versions=versions, current_version=current)


def _write_private_file(path: Path, data: bytes) -> None:
    """Create ``path`` (must not exist) with mode 0600 and durable contents."""
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        # The umask only ever removes bits; one that removed the owner's read bit (0o477)
        # would leave a key file that the service itself could not read on next start.
        os.fchmod(fd, 0o600)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _temp_path_beside(path: Path) -> Path:
    # Same directory, so that os.replace / os.link stay on one filesystem and are atomic.
    return path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")


def save_key_file(path: Path, ring: MasterKeyring) -> None:
    """Write ``ring`` to ``path`` atomically (0600 temp file, fsync, rename over)."""
    temp = _temp_path_beside(path)
    try:
        _write_private_file(temp, _key_file_bytes(ring))
        os.replace(temp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise KeyringError(
            "key_file_unwritable", f"cannot write key file {path}: {exc.strerror}"
        ) from None
    fsync_directory(path.parent)


def _create_key_file(path: Path, ring: MasterKeyring) -> bool:
    """Publish ``ring`` at ``path`` unless a file is there; False if another process won."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temp = _temp_path_beside(path)
        _write_private_file(temp, _key_file_bytes(ring))
    except OSError as exc:
        raise KeyringError(
            "key_file_unwritable", f"cannot create key file {path}: {exc.strerror}"
        ) from None
    try:
        # A hard link appears complete or not at all and never replaces an existing file,
        # so a worker starting at the same moment as the server reads either nothing or the
        # whole winning key file, never a half-written one.
        os.link(temp, path)
    except FileExistsError:
        return False
    except OSError:
        # Some filesystems have no hard links; O_EXCL still guarantees one creator.
        try:
            _write_private_file(path, _key_file_bytes(ring))
        except FileExistsError:
            return False
        except OSError as exc:
            raise KeyringError(
                "key_file_unwritable", f"cannot create key file {path}: {exc.strerror}"
            ) from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temp)
    fsync_directory(path.parent)
    return True


def _read_key_file(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        # Check the opened file itself, not the path, so it cannot be swapped in between.
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise KeyringError("key_malformed", f"key file {path} is not a regular file")
        if info.st_mode & 0o077:
            raise KeyringError(
                "key_file_insecure",
                f"key file {path} is accessible to group or others "
                f"(mode {stat.S_IMODE(info.st_mode):04o}); run: chmod 600 {path}",
            )
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
            size += len(chunk)
            if size > _MAX_KEY_FILE_SIZE:
                raise KeyringError("key_malformed", f"key file {path} is far too large")
        return b"".join(chunks)
    finally:
        os.close(fd)


def load_or_create_key_file(path: Path, *, create: bool) -> MasterKeyring:
    """Load the master keyring from ``path``; with ``create``, make a new one if missing.

    Refuses a file that group or others can access (``key_file_insecure``).
    """
    # Two rounds: if another process creates the file between our miss and our create,
    # the second round reads the file that process wrote.
    for _ in range(2):
        try:
            raw = _read_key_file(path)
        except FileNotFoundError:
            if not create:
                raise KeyringError(
                    "key_missing",
                    f"no master key: key file {path} does not exist and AMANAT_MASTER_KEY is unset",
                ) from None
            ring = MasterKeyring.generate()
            if _create_key_file(path, ring):
                return ring
            continue
        except OSError as exc:
            raise KeyringError(
                "key_file_unreadable", f"cannot read key file {path}: {exc.strerror}"
            ) from None
        return _parse_key_file(raw, path)
    raise KeyringError("key_file_unreadable", f"key file {path} keeps disappearing")
