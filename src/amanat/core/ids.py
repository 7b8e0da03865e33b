"""Identifiers. UUIDs name rows; they are never used as secrets (ASVS V11.5.1)."""

from __future__ import annotations

import secrets
import uuid


def new_id() -> str:
    """A new row id: a random UUID in its canonical text form."""
    return str(uuid.uuid4())


def new_request_id() -> str:
    """A short random id that ties a request's log lines and error reference together."""
    return secrets.token_hex(8)
