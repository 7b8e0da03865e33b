"""One test's personal-data guard: what the test seeded, what left the service (log lines,
requested URLs, error bodies, server logs), and which seeded values showed up there.

The guard of the running test is `active_guard()`; observers (see `leak_observers`) feed it.
Guards nest, so a test that runs pytest inside itself (pytester) has its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import unquote_plus

from tests.support.seeded_personal_data import SeededPersonalData

LOG_LINE = "log line"
URL = "URL"
ERROR_BODY = "error body"
SERVER_LOG = "server log"
CHANNELS = (LOG_LINE, URL, ERROR_BODY, SERVER_LOG)

_EXCERPT_CHARS = 60
_SEPARATOR = "\n\x00\n"


@dataclass(frozen=True)
class Leak:
    channel: str
    kind: str
    value: str
    form: str
    excerpt: str

    def __str__(self) -> str:
        shown = self.value if self.form == self.value else f"{self.value} (as {self.form})"
        return f"{self.kind} {shown!r}, {self.channel}: …{self.excerpt}…"


@dataclass(frozen=True)
class Allowance:
    """A seeded value a test shows on one channel on purpose, and why."""

    channel: str
    value: str
    reason: str


@dataclass
class LeakGuard:
    seeded: SeededPersonalData = field(default_factory=SeededPersonalData)
    sightings: list[tuple[str, str]] = field(default_factory=list)
    allowances: list[Allowance] = field(default_factory=list)

    def see(self, channel: str, text: str) -> None:
        """Keep `text` that left the service on `channel`, to be checked at the test's end."""
        if text:
            self.sightings.append((channel, text))

    def see_url(self, url: object) -> None:
        written = str(url)
        self.see(URL, written)
        decoded = unquote_plus(written)
        if decoded != written:
            self.see(URL, decoded)

    def allow(self, channel: str, value: str, *, reason: str) -> None:
        """Let this one value appear on this one channel (and nowhere else): for a test whose
        point is to show it there. Say why."""
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r}")
        if not reason.strip():
            raise ValueError("say why the value may appear")
        self.allowances.append(Allowance(channel, value.strip().casefold(), reason))

    def _allowed(self, channel: str, value: str) -> bool:
        folded = value.casefold()
        return any(a.channel == channel and a.value == folded for a in self.allowances)

    def leaks(self) -> list[Leak]:
        """Each seeded value seen on a channel, once per channel and value."""
        if not self.seeded:
            return []
        found: list[Leak] = []
        for channel in CHANNELS:
            # One search per value and channel: texts are joined by a separator no value holds.
            text = _SEPARATOR.join(t for c, t in self.sightings if c == channel)
            for match in self.seeded.matches(text) if text else []:
                if self._allowed(channel, match.value):
                    continue
                start = max(0, match.position - _EXCERPT_CHARS)
                excerpt = text[start : match.position + len(match.form) + _EXCERPT_CHARS]
                excerpt = excerpt.replace(_SEPARATOR, " | ")
                found.append(Leak(channel, match.kind, match.value, match.form, excerpt))
        return found

    def forget_sightings(self) -> None:
        """Drop what was seen so far (for the guard's own tests, after checking a leak)."""
        self.sightings.clear()


def describe(leaks: Iterable[Leak]) -> str:
    lines = "\n".join(f"  - {leak}" for leak in leaks)
    return (
        "Seeded personal data left the service (house rule: logs, URLs and errors carry ids "
        f"and outcomes, never personal data):\n{lines}"
    )


_guards: list[LeakGuard] = []


def active_guard() -> LeakGuard | None:
    """The running test's guard, if a test is running."""
    return _guards[-1] if _guards else None


@contextmanager
def guarding() -> Iterator[LeakGuard]:
    guard = LeakGuard()
    _guards.append(guard)
    try:
        yield guard
    finally:
        _guards.remove(guard)


def seed(fields: dict[str, object]) -> None:
    """Register person fields (by service name) with the running test's guard, if any."""
    guard = active_guard()
    if guard is not None:
        guard.seeded.add_fields(fields)


def see_lines(channel: str, lines: Iterable[str]) -> None:
    guard = active_guard()
    if guard is not None:
        for line in lines:
            guard.see(channel, line)
