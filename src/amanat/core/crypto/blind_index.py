"""Blind indexes: keyed HMAC-SHA256 of normalized values, for exact lookup and uniqueness.

The database can find "the person with this email" without ever holding the email in
the clear. An index is only as private as its key: without the key, a list of every
possible CNIC cannot be hashed and compared against the column. Normalizing the value
(case, spaces, phone format) is the caller's job, before it reaches here.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from amanat.core.crypto.keyring import MasterKeyring, length_prefixed

BLIND_INDEX_SIZE = 32
MIN_BLIND_INDEX_SIZE = 16

_DOMAIN = "amanat:blind-index:v1"


@dataclass(frozen=True)
class BlindIndexKey:
    """The HMAC key for blind indexes made from master key ``version``.

    Store the version beside each index, so that lookups after a master rotation know
    which key to recompute with.
    """

    version: int
    key: bytes = field(repr=False)


def blind_index_key_from(ring: MasterKeyring, version: int | None = None) -> BlindIndexKey:
    """The blind-index key of master ``version`` (default: the current one)."""
    chosen = ring.current_version if version is None else version
    # A subkey of its own: knowing an index key must reveal nothing about the wrapping key.
    return BlindIndexKey(version=chosen, key=ring.subkey(chosen, "blind-index"))


def compute_blind_index(
    key: BlindIndexKey, kind: str, normalized_value: str, length: int = BLIND_INDEX_SIZE
) -> bytes:
    """HMAC-SHA256 of (``kind``, ``normalized_value``), the first ``length`` bytes (16–32).

    ``kind`` ("email", "cnic", "phone", "name-word", ...) is part of the input, so equal
    strings of different kinds never share an index and cannot be linked across columns.
    """
    if not MIN_BLIND_INDEX_SIZE <= length <= BLIND_INDEX_SIZE:
        raise ValueError(
            f"blind index length must be {MIN_BLIND_INDEX_SIZE} to {BLIND_INDEX_SIZE} bytes"
        )
    if not kind:
        raise ValueError("blind index kind must not be empty")
    # Length-prefixed, so ("email", "x") and ("emai", "lx") cannot collide.
    message = length_prefixed((_DOMAIN, kind, normalized_value))
    # Truncation keeps at least 128 bits: enough that unrelated values do not collide.
    # hmac.digest: the same HMAC in one call to OpenSSL, without an HMAC object per value.
    return hmac.digest(key.key, message, "sha256")[:length]


def compute_blind_index_hex(
    key: BlindIndexKey, kind: str, normalized_value: str, length: int = BLIND_INDEX_SIZE
) -> str:
    """``compute_blind_index`` as lowercase hex, for text columns."""
    return compute_blind_index(key, kind, normalized_value, length=length).hex()
