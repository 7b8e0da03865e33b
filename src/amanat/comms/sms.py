"""Text messages (SMS) to phone numbers: a sender protocol and the embedded default sink.

``TextFileSink`` (embedded default) writes one ``.txt`` file per message into
``<data_dir>/sms/``, mode 0600, like the ``.eml`` mail sink: the embedded setup confirms phone
numbers without any gateway, and an operator (or a test) reads the codes from the files. The
files hold the number and the text in the clear; they are for development and single-machine
trials. No third party is called from here.

A real gateway belongs behind a setting and behind a queue (retry with backoff, no network
wait inside a request), as mail goes through the outbox; the sink needs neither, so messages
are written when they are sent, before the request's transaction commits. A commit that fails
afterwards leaves a message whose code confirms nothing, which is harmless.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from amanat.core.clock import utcnow
from amanat.core.files import write_private_file
from amanat.core.settings import Settings

__all__ = [
    "MAX_TEXT_CHARS",
    "TextFileSink",
    "TextMessage",
    "TextMessageSender",
    "text_sender_from_settings",
]

# Ten concatenated SMS segments of 153 characters: more is a mistake, not a message.
MAX_TEXT_CHARS = 1530
_CATEGORY_CHARS = 32


@dataclass(frozen=True)
class TextMessage:
    """One text message; ``repr`` omits number and text so it is safe in tracebacks."""

    to: str = field(repr=False)  # E.164
    body: str = field(repr=False)
    category: str


def _checked(message: TextMessage) -> None:
    # Errors name the part, never the value: both are personal data.
    if not (message.to.startswith("+") and message.to[1:].isdigit() and len(message.to) <= 16):
        raise ValueError("recipient must be a phone number in E.164 form")
    if not message.body.strip() or len(message.body) > MAX_TEXT_CHARS:
        raise ValueError(f"text must be 1 to {MAX_TEXT_CHARS} characters")
    if not message.category or len(message.category) > _CATEGORY_CHARS:
        raise ValueError("category must be 1 to 32 characters")
    if any(ch in message.category for ch in "\r\n\x00"):
        raise ValueError("category must not contain line breaks")


class TextMessageSender(Protocol):
    """Where text messages go. ``send`` raises on failure."""

    async def send(self, message: TextMessage) -> None: ...


class TextFileSink:
    """Writes each message as a ``.txt`` file (0600) in ``directory``; names are ours, random."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def __repr__(self) -> str:
        return f"TextFileSink(directory={str(self.directory)!r})"

    async def send(self, message: TextMessage) -> None:
        _checked(message)
        text = (
            f"To: {message.to}\n"
            f"Date: {utcnow():%Y-%m-%dT%H:%M:%SZ}\n"
            f"Category: {message.category}\n"
            f"\n{message.body}\n"
        )
        await asyncio.to_thread(self._write, text.encode("utf-8"))

    def _write(self, data: bytes) -> Path:
        return write_private_file(self.directory, ".txt", data)


def text_sender_from_settings(settings: Settings) -> TextMessageSender:
    """The ``.txt`` sink in ``<data_dir>/sms`` (the only sender there is so far)."""
    return TextFileSink(settings.data_dir / "sms")
