"""Envelope encryption: each person's values under their own data key, wrapped by a master key.

Erasing a person deletes their wrapped data key; every copy of their ciphertext, backups
included, is unreadable from then on. Rotating the master key only rewraps data keys and
never touches the values themselves.

Blob layout, for wrapped keys and values alike: 1 algorithm byte, 12-byte nonce,
ciphertext with its 16-byte GCM tag. The algorithm byte lets a later algorithm coexist
with this one while data is migrated.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from amanat.core.crypto.keyring import (
    KeyringError,
    MasterKeyring,
    length_prefixed,
)

ALG_AES256GCM = 1
DATA_KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16
_HEADER_SIZE = 1 + NONCE_SIZE

_DEK_AAD_PREFIX = b"amanat:dek:v1:"
_VALUE_AAD_LABEL = "amanat:v1"
_CANARY_AAD_PREFIX = b"amanat:canary:v1:"
_CANARY_PLAINTEXT = b"amanat master key canary v1"


class DecryptionError(Exception):
    """Ciphertext could not be authenticated or decrypted.

    One error for every cause (tampering, wrong key, wrong context, truncation), so that
    callers and attackers learn nothing about which check failed.
    """

    code = "decryption_failed"

    def __init__(self, message: str = "decryption failed") -> None:
        super().__init__(message)


@dataclass(frozen=True)
class WrappedKey:
    """A data key encrypted under master key ``master_version``; safe to store."""

    master_version: int
    blob: bytes


def new_data_key() -> bytes:
    """A fresh random 256-bit data key for one person."""
    return secrets.token_bytes(DATA_KEY_SIZE)


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    # Random 96-bit nonces: each data key encrypts one person's handful of values, far
    # below the ~2**32 messages per key at which random GCM nonces start to risk a repeat.
    nonce = secrets.token_bytes(NONCE_SIZE)
    return bytes([ALG_AES256GCM]) + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _open(key: bytes, blob: bytes, aad: bytes) -> bytes:
    if len(key) != DATA_KEY_SIZE:
        # AESGCM would quietly accept a 16- or 24-byte key as AES-128/192.
        raise DecryptionError()
    if len(blob) < _HEADER_SIZE + TAG_SIZE or blob[0] != ALG_AES256GCM:
        raise DecryptionError()
    nonce = blob[1:_HEADER_SIZE]
    try:
        return AESGCM(key).decrypt(nonce, blob[_HEADER_SIZE:], aad)
    except InvalidTag:
        raise DecryptionError() from None


def _wrap_key(ring: MasterKeyring, version: int) -> bytes:
    return ring.subkey(version, "wrap")


def wrap_data_key(ring: MasterKeyring, data_key: bytes, *, subject: str) -> WrappedKey:
    """Encrypt ``data_key`` for ``subject`` under the current master key version."""
    if len(data_key) != DATA_KEY_SIZE:
        raise ValueError(f"data key must be {DATA_KEY_SIZE} bytes")
    version, _ = ring.current()
    # The subject in the AAD stops one person's wrapped key from being swapped in for another's.
    blob = _seal(_wrap_key(ring, version), data_key, _DEK_AAD_PREFIX + subject.encode("utf-8"))
    return WrappedKey(master_version=version, blob=blob)


def unwrap_data_key(ring: MasterKeyring, wrapped: WrappedKey, *, subject: str) -> bytes:
    """Decrypt a wrapped data key; ``DecryptionError`` on any failure."""
    try:
        wrap_key = _wrap_key(ring, wrapped.master_version)
    except KeyringError:
        raise DecryptionError() from None
    data_key = _open(wrap_key, wrapped.blob, _DEK_AAD_PREFIX + subject.encode("utf-8"))
    if len(data_key) != DATA_KEY_SIZE:
        raise DecryptionError()
    return data_key


def rewrap_data_key(ring: MasterKeyring, wrapped: WrappedKey, *, subject: str) -> WrappedKey:
    """Rewrap under the current master version; returns ``wrapped`` itself if already current."""
    if wrapped.master_version == ring.current_version:
        return wrapped
    return wrap_data_key(ring, unwrap_data_key(ring, wrapped, subject=subject), subject=subject)


def _value_aad(table: str, column: str, row_id: str) -> bytes:
    # Binding the value to its place means a ciphertext copied into another row or
    # column (by a bug or by someone with database access) fails instead of decrypting.
    return length_prefixed((_VALUE_AAD_LABEL, table, column, row_id))


def encrypt_value(
    data_key: bytes, plaintext: str, *, table: str, column: str, row_id: str
) -> bytes:
    """Encrypt one personal-data value, bound to its table, column and row."""
    if len(data_key) != DATA_KEY_SIZE:
        raise ValueError(f"data key must be {DATA_KEY_SIZE} bytes")
    return _seal(data_key, plaintext.encode("utf-8"), _value_aad(table, column, row_id))


def decrypt_value(data_key: bytes, blob: bytes, *, table: str, column: str, row_id: str) -> str:
    """Decrypt a value from ``encrypt_value``; ``DecryptionError`` on any failure."""
    plaintext = _open(data_key, blob, _value_aad(table, column, row_id))
    try:
        return plaintext.decode("utf-8")
    except UnicodeDecodeError:
        raise DecryptionError() from None


def _canary_aad(version: int) -> bytes:
    return _CANARY_AAD_PREFIX + str(version).encode("ascii")


def make_key_canary(ring: MasterKeyring, version: int) -> bytes:
    """A value to store beside the data, proving later which master key ``version`` wrote it."""
    key = ring.subkey(version, "canary")
    return _seal(key, _CANARY_PLAINTEXT, _canary_aad(version))


def check_key_canary(ring: MasterKeyring, version: int, canary: bytes) -> bool:
    """True if ``ring``'s key ``version`` is the one that made ``canary``."""
    # Checked at start-up: a wrong or mistyped master key must stop the service before it
    # wraps new data keys that the real key could never open.
    try:
        key = ring.subkey(version, "canary")
        plaintext = _open(key, canary, _canary_aad(version))
    except (KeyringError, DecryptionError):
        return False
    return hmac.compare_digest(plaintext, _CANARY_PLAINTEXT)


def require_key_canary(ring: MasterKeyring, version: int, canary: bytes) -> None:
    """Raise ``KeyringError("key_wrong")`` unless ``check_key_canary`` holds."""
    if not check_key_canary(ring, version, canary):
        raise KeyringError(
            "key_wrong",
            f"the configured master key version {version} is not the one this database "
            "was written with",
        )
