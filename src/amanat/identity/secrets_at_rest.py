"""Credential secrets kept encrypted (TOTP seeds): AES-256-GCM under a subkey of the current
master key version, bound to the user's row; the version travels with the blob so rotation
can re-encrypt at leisure."""

from __future__ import annotations

from amanat.core.crypto import MasterKeyring, decrypt_value, encrypt_value

_PURPOSE = "credential-secret"
_VERSION_BYTES = 2


def seal_secret(ring: MasterKeyring, *, user_id: str, column: str, secret: str) -> bytes:
    version = ring.current_version
    key = ring.subkey(version, _PURPOSE)
    blob = encrypt_value(key, secret, table="app_user", column=column, row_id=user_id)
    return version.to_bytes(_VERSION_BYTES, "big") + blob


def open_secret(ring: MasterKeyring, *, user_id: str, column: str, sealed: bytes) -> str:
    version = int.from_bytes(sealed[:_VERSION_BYTES], "big")
    key = ring.subkey(version, _PURPOSE)
    return decrypt_value(
        key, sealed[_VERSION_BYTES:], table="app_user", column=column, row_id=user_id
    )
