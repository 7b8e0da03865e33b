"""A secret shown once on the page a form's redirect leads to (POST/redirect/GET).

New recovery codes and a new API token's secret must be shown after the redirect, never in a
URL or a cookie in clear, and never again after that page. They are kept on the browser's own
session row, sealed (AES-256-GCM under a subkey of the master key, bound to the row), for at
most `SHOWN_ONCE_MINUTES`. Showing the page takes the value: a reload, the back button or
another tab finds nothing. One value at a time: a newer one replaces an older one unseen.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from amanat.core.clock import utcnow
from amanat.core.crypto import DecryptionError, MasterKeyring, decrypt_value, encrypt_value
from amanat.identity.models import UserSession

SHOWN_ONCE_MINUTES = 10
_PURPOSE = "shown-once"
_VERSION_BYTES = 2


@dataclass(frozen=True)
class ShownOnce:
    kind: str
    values: dict[str, Any]
    made_at: datetime


def keep_to_show(ring: MasterKeyring, row: UserSession, kind: str, values: dict[str, Any]) -> None:
    """Seal `values` on the session row until the next page shows them."""
    payload = json.dumps({"kind": kind, "values": values, "at": utcnow().isoformat()})
    version = ring.current_version
    blob = encrypt_value(
        ring.subkey(version, _PURPOSE),
        payload,
        table="user_session",
        column="shown_once",
        row_id=row.id,
    )
    row.shown_once = version.to_bytes(_VERSION_BYTES, "big") + blob


def take_to_show(ring: MasterKeyring, row: UserSession, kind: str) -> ShownOnce | None:
    """The value of `kind` kept for this page, taken off the row; None if there is none (any
    longer). Another kind is left in place for its own page."""
    found = peek_to_show(ring, row, kind)
    if found is not None:
        row.shown_once = None
    return found


def peek_to_show(ring: MasterKeyring, row: UserSession, kind: str) -> ShownOnce | None:
    """The value of `kind` kept on the row, left in place (a step that needs it twice)."""
    sealed = row.shown_once
    if sealed is None:
        return None
    try:
        version = int.from_bytes(sealed[:_VERSION_BYTES], "big")
        payload = json.loads(
            decrypt_value(
                ring.subkey(version, _PURPOSE),
                sealed[_VERSION_BYTES:],
                table="user_session",
                column="shown_once",
                row_id=row.id,
            )
        )
        made_at = datetime.fromisoformat(payload["at"])
    except (DecryptionError, KeyError, ValueError, TypeError):
        row.shown_once = None  # unreadable (a retired key): nothing to show
        return None
    if payload.get("kind") != kind:
        return None
    if utcnow() - made_at > timedelta(minutes=SHOWN_ONCE_MINUTES):
        row.shown_once = None
        return None
    return ShownOnce(kind=kind, values=dict(payload["values"]), made_at=made_at)
