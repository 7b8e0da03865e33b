"""The words of activity every layer uses, tables included: the kinds of security event,
their outcomes, and the kinds of device."""

from __future__ import annotations

from typing import Literal

EventKind = Literal[
    "signin",
    "mfa",
    "lock",
    "unlock",
    "signout",
    "password_change",
    "password_reset",
    "mfa_change",
    "session_revoked",
    "new_device",
]
Outcome = Literal["success", "failure"]

EVENT_KINDS: tuple[EventKind, ...] = (
    "signin",
    "mfa",
    "lock",
    "unlock",
    "signout",
    "password_change",
    "password_reset",
    "mfa_change",
    "session_revoked",
    "new_device",
)
OUTCOMES: tuple[Outcome, ...] = ("success", "failure")
# The events that open a session: their context describes the session they opened.
SESSION_OPENING: tuple[EventKind, ...] = ("signin", "mfa")

DeviceType = Literal["desktop", "mobile", "tablet", "bot", "other"]
DEVICE_TYPES: tuple[DeviceType, ...] = ("desktop", "mobile", "tablet", "bot", "other")
