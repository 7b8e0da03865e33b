"""Every audit action recorded anywhere in `src/` reads as words on the audit log page; a code
without words of its own still reads as words, never as a code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from amanat.audit.event_words import ACTION_WORDS, action_words, code_words, role_words

SRC = Path(__file__).resolve().parents[2] / "src" / "amanat"
# Audit actions are written as `action="room.verb"` in `record_event(...)` and `AuditEntry(...)`,
# or kept in a constant or passed to a helper first: any string literal "subject.verb" whose
# subject is one the log's actions use.
_ACTION = re.compile(r'\baction="([a-z_]+\.[a-z_.]+)"')
_SUBJECTS = "account|api_token|device|identity|people|signin|user|users"
_LITERAL = re.compile(rf'"((?:{_SUBJECTS})\.[a-z_]+)"')
_NOT_ACTIONS = re.compile(r"\.(html|txt|id)$")


def _recorded_actions() -> set[str]:
    found: set[str] = set()
    for path in SRC.rglob("*.py"):
        if path.name == "event_words.py":
            continue
        text = path.read_text(encoding="utf-8")
        found.update(_ACTION.findall(text))
        found.update(code for code in _LITERAL.findall(text) if not _NOT_ACTIONS.search(code))
    return found


def test_the_source_records_actions_the_scan_can_see() -> None:
    assert {"user.invite", "account.suspend", "people.reveal"} <= _recorded_actions()


def test_every_recorded_action_has_words_of_its_own() -> None:
    missing = sorted(_recorded_actions() - set(ACTION_WORDS))
    assert not missing, f"give these audit actions words in audit/event_words.py: {missing}"


def test_words_are_words() -> None:
    assert action_words("user.invite") == "User invited"
    assert action_words("user.password_change") == "Password changed"
    for words in ACTION_WORDS.values():
        assert words[0].isupper()
        assert "_" not in words
        assert "." not in words


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("device.rename", "Device rename"),
        ("user.night_shift-start", "User night shift start"),
        ("", "Unknown"),
    ],
)
def test_an_unknown_code_still_reads_as_words(code: str, words: str) -> None:
    assert code_words(code) == words
    assert action_words(code) == words


def test_roles_read_as_words() -> None:
    assert role_words("platform_admin") == "Platform administrator"
    assert role_words(None) == "The system"
    assert role_words("night_watch") == "Night watch"
