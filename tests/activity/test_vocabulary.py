"""Activity codes appear on pages in words: every code the tables may hold has them."""

from __future__ import annotations

from typing import get_args

from amanat.activity.vocabulary import (
    DEVICE_TYPE_WORDS,
    DEVICE_TYPES,
    EVENT_KIND_WORDS,
    EVENT_KINDS,
    OUTCOME_WORDS,
    OUTCOMES,
    DeviceType,
    EventKind,
    Outcome,
)


def test_every_code_has_words() -> None:
    for codes, literal, words in (
        (EVENT_KINDS, EventKind, EVENT_KIND_WORDS),
        (OUTCOMES, Outcome, OUTCOME_WORDS),
        (DEVICE_TYPES, DeviceType, DEVICE_TYPE_WORDS),
    ):
        assert set(codes) == set(get_args(literal)) == set(words)
        for code, text in words.items():
            assert text.strip(), code
            assert text[0].isupper(), code
            assert "_" not in text, code  # words, not the code again
        assert len(set(words.values())) == len(words)  # no two codes read alike


def test_the_words_people_read() -> None:
    assert EVENT_KIND_WORDS["password_change"] == "Password changed"
    assert OUTCOME_WORDS["failure"] == "Failed"
    assert OUTCOME_WORDS["success"] == "Succeeded"
