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

# The same names as people read them on pages: every code above has its words here.
EVENT_KIND_WORDS: dict[EventKind, str] = {
    "signin": "Sign-in with password",
    "mfa": "Second factor at sign-in",
    "lock": "Sign-in locked",
    "unlock": "Sign-in unlocked",
    "signout": "Signed out",
    "password_change": "Password changed",
    "password_reset": "Password reset",
    "mfa_change": "Second factor changed",
    "session_revoked": "Session ended",
    "new_device": "New device",
}
OUTCOME_WORDS: dict[Outcome, str] = {"success": "Succeeded", "failure": "Failed"}
DEVICE_TYPE_WORDS: dict[DeviceType, str] = {
    "desktop": "Desktop",
    "mobile": "Phone",
    "tablet": "Tablet",
    "bot": "Automated client",
    "other": "Other device",
}
