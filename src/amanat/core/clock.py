"""The one source of "now", so tests and retention jobs agree on time (always UTC)."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["UTC", "utcnow"]


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)
