"""The password policy (NIST SP 800-63B-4, ASVS 5.0 V6.2): length, normalization, blocklists,
context words, no composition rules, and refusal messages that never echo the password."""

from __future__ import annotations

import random
import string
import time
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from zxcvbn import matching as zxcvbn_matching

from amanat.identity.password_policy import (
    MAX_LENGTH,
    MIN_LENGTH_SINGLE_FACTOR,
    MIN_LENGTH_WITH_MFA,
    ZXCVBN_MAX_CHARS,
    PasswordContext,
    PasswordProblem,
    check_new_password,
    common_passwords,
    estimate_strength,
    is_on_common_list,
    is_password_acceptable,
    minimum_length,
    normalize_password,
)

ALONE = PasswordContext()
WITH_MFA = PasswordContext(has_mfa=True)
PERSON = PasswordContext(
    username="zarminehq",
    email="tahirovski.q@example.pk",
    full_name="Zarmineh Tahirovski",
    account_name="Qilavent Labs",
)


def codes(problems: list[PasswordProblem]) -> list[str]:
    return [p.code for p in problems]


def random_letters(length: int, seed: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(string.ascii_letters) for _ in range(length))


# --- V6.2.1 minimum length -------------------------------------------------------------------


@pytest.mark.asvs("V6.2.1")
def test_constants_match_the_policy() -> None:
    assert MIN_LENGTH_SINGLE_FACTOR == 15
    assert MIN_LENGTH_WITH_MFA == 8
    assert MAX_LENGTH == 128


@pytest.mark.asvs("V6.2.1")
def test_fourteen_characters_refused_alone_but_accepted_with_mfa() -> None:
    password = "ochre tundra 7"
    assert len(password) == 14

    alone = check_new_password(password, ALONE)
    assert codes(alone) == ["too_short"]
    assert "15" in alone[0].message
    assert not is_password_acceptable(password, ALONE)

    assert check_new_password(password, WITH_MFA) == []
    assert is_password_acceptable(password, WITH_MFA)


@pytest.mark.asvs("V6.2.1")
def test_fifteen_character_passphrase_accepted_alone() -> None:
    password = "marble cactus v"
    assert len(password) == 15
    assert check_new_password(password, ALONE) == []


@pytest.mark.asvs("V6.2.1")
def test_with_mfa_the_minimum_is_eight() -> None:
    seven = "fjq8 zt"
    eight = "fjq8 ztr"
    problems = check_new_password(seven, WITH_MFA)
    assert "too_short" in codes(problems)
    message = next(p.message for p in problems if p.code == "too_short")
    assert "8" in message
    assert "too_short" not in codes(check_new_password(eight, WITH_MFA))


@pytest.mark.asvs("V6.2.1")
def test_operator_may_raise_the_mfa_minimum_but_never_lower_it() -> None:
    password = "fjq8 ztr wp"  # 11 characters
    assert "too_short" in codes(check_new_password(password, WITH_MFA, min_length_with_mfa=12))
    assert "too_short" not in codes(check_new_password(password, WITH_MFA, min_length_with_mfa=11))
    # Lowering below 8 is clamped to 8.
    assert minimum_length(True, min_length_with_mfa=4) == 8
    assert minimum_length(True, min_length_with_mfa=12) == 12
    assert minimum_length(False, min_length_with_mfa=4) == 15
    assert "too_short" in codes(check_new_password("fjq8 zt", WITH_MFA, min_length_with_mfa=4))
    # The MFA setting never affects a password used alone.
    assert "too_short" in codes(check_new_password("ochre tundra 7", ALONE, min_length_with_mfa=8))


# --- V6.2.9 long passwords allowed -----------------------------------------------------------


@pytest.mark.asvs("V6.2.9")
def test_64_and_128_accepted_129_refused() -> None:
    assert check_new_password(random_letters(64, seed=1), ALONE) == []
    assert check_new_password(random_letters(128, seed=2), ALONE) == []

    problems = check_new_password(random_letters(129, seed=3), ALONE)
    assert codes(problems) == ["too_long"]
    assert "128" in problems[0].message


@pytest.mark.asvs("V6.2.9")
def test_huge_input_is_refused_quickly_as_too_long() -> None:
    started = time.perf_counter()
    problems = check_new_password("4@8({[<3&69!|1+7$5%02" * 50_000, ALONE)
    assert codes(problems) == ["too_long"]
    assert time.perf_counter() - started < 1.0


@pytest.mark.asvs("V6.2.9")
def test_length_limit_counts_code_points_after_nfkc() -> None:
    # 120 ASCII letters + 3 "ﬃ" ligatures: 123 code points typed, 129 after NFKC.
    password = random_letters(120, seed=4) + "\ufb03" * 3
    assert len(password) == 123
    assert "too_long" in codes(check_new_password(password, ALONE))


# --- V6.2.8 normalization: NFKC only, code points, no truncation or case change --------------


@pytest.mark.asvs("V6.2.8")
def test_normalization_is_nfkc_and_nothing_else() -> None:
    assert normalize_password("ｐａｓｓｗｏｒｄ") == "password"  # fullwidth
    assert normalize_password("\ufb01nch") == "finch"  # ligature
    assert normalize_password("e\u0301") == "\u00e9"  # composed
    typed = "  Correct HORSE\u00a0battery  "
    assert normalize_password(typed) == "  Correct HORSE battery  "  # no case change, no trim
    for text in ("ｐａｓｓ", "ℌ𝔢𝔩𝔩𝔬", "Ⅻ", "①②"):
        assert normalize_password(text) == unicodedata.normalize("NFKC", text)


@pytest.mark.asvs("V6.2.8")
def test_no_truncation() -> None:
    base = random_letters(127, seed=5)
    assert normalize_password(base + "a") != normalize_password(base + "b")
    assert len(normalize_password(base + "a")) == 128


@pytest.mark.asvs("V6.2.1", "V6.2.8")
def test_length_is_counted_in_code_points_after_nfkc() -> None:
    # Fullwidth letters count one each after NFKC.
    fullwidth = "ｍａｒｂｌｅ ｃａｃｔｕｓ ｖ"
    assert normalize_password(fullwidth) == "marble cactus v"
    assert check_new_password(fullwidth, ALONE) == []
    # Ligatures expand: 8 characters typed, 15 code points after NFKC.
    ligatures = "\ufb01" * 7 + "x"
    assert len(ligatures) == 8
    assert "too_short" not in codes(check_new_password(ligatures, ALONE))
    # Emoji count as their code points: 14 emoji + one variation selector = 15.
    emoji = "🔐🌙🐘🎻🌵🚲🧭🍉🦉🎲🏔️🪁🧊🪴"
    assert len(normalize_password(emoji)) == 15
    assert check_new_password(emoji, ALONE) == []
    assert "too_short" in codes(check_new_password(emoji[:-1], ALONE))
    # Urdu text counts its code points too: 11 here, so too short alone, enough with MFA.
    urdu = "میرا پاسورڈ"
    assert len(normalize_password(urdu)) == 11
    assert "too_short" in codes(check_new_password(urdu, ALONE))
    assert "too_short" not in codes(check_new_password(urdu, WITH_MFA))


# --- V6.2.4 / V6.2.12 common and breached passwords ------------------------------------------


@pytest.mark.asvs("V6.2.4", "V6.2.12")
def test_common_list_is_large_and_only_holds_eight_characters_or_more() -> None:
    common = common_passwords()
    assert isinstance(common, frozenset)
    assert len(common) >= 3000
    assert all(len(entry) >= 8 for entry in common)
    assert all(entry == entry.casefold() for entry in common)
    assert common_passwords() is common  # built once
    # The top leaked passwords of 8+ characters are on it.
    for entry in ("password", "12345678", "baseball", "iloveyou", "trustno1"):
        assert entry in common


@pytest.mark.asvs("V6.2.4", "V6.2.12")
@pytest.mark.parametrize(
    "password",
    [
        "qwertyuiop12345",
        "QWERTYUIOP12345",
        "1qaz2wsx3edc4rfv",
        "PasswordStandard",
        "ｑｗｅｒｔｙｕｉｏｐ１２３４５",
    ],
)
def test_long_common_passwords_refused_as_common(password: str) -> None:
    assert len(normalize_password(password)) >= 15
    problems = check_new_password(password, ALONE)
    assert "common" in codes(problems)
    assert "too_short" not in codes(problems)
    assert is_on_common_list(password)


@pytest.mark.asvs("V6.2.4", "V6.2.12")
def test_common_check_is_on_the_whole_password() -> None:
    assert is_on_common_list("baseball")
    assert "common" in codes(check_new_password("baseball", WITH_MFA))
    assert not is_on_common_list("baseball is a summer game")
    assert not is_on_common_list("correct horse battery staple")
    assert "common" not in codes(check_new_password("marble cactus v", ALONE))


@pytest.mark.asvs("V6.2.12")
def test_breached_style_password_refused() -> None:
    # Not on the list, but built from a leaked password plus a digit run.
    password = "password1234567"
    assert not is_on_common_list(password)
    problems = check_new_password(password, ALONE)
    # One word and digits: the pattern is named, and zxcvbn finds it guessable too.
    assert codes(problems) == ["word_and_digits", "breached_pattern"]
    assert "guess" in problems[1].message


@pytest.mark.asvs("V6.2.12")
@pytest.mark.parametrize("password", ["aaaaaaaaaaaaaaaa", "qwertyuiopasdfgh", "1234567890123456"])
def test_patterns_refused(password: str) -> None:
    assert "breached_pattern" in codes(check_new_password(password, ALONE))


# --- V6.2.11 context words -------------------------------------------------------------------


@pytest.mark.asvs("V6.2.11")
@pytest.mark.parametrize(
    ("password", "kind_word", "value"),
    [
        ("my ZARMINEHQ garden gate", "username", "zarminehq"),
        ("velvet Zarmineh marble pier", "name", "zarmineh"),
        ("velvet tahirovski marble pier", "name", "tahirovski"),
        ("tahirovski.q@example.pk rocks", "email", "tahirovski.q@example.pk"),
        ("velvet tahirovski.q pier gate", "email", "tahirovski.q"),
        ("velvet qilavent labs pier", "account", "qilavent labs"),
        ("velvet QilaventLabs pier", "account", "qilavent labs"),
        ("my Amanat vault harbor key", "service", "amanat"),
    ],
)
def test_context_words_refused_naming_the_kind_not_the_value(
    password: str, kind_word: str, value: str
) -> None:
    problems = [p for p in check_new_password(password, PERSON) if p.code == "context_word"]
    assert problems
    assert any(kind_word in p.message for p in problems)
    for p in problems:
        assert value.casefold() not in p.message.casefold()
        assert password not in p.message


@pytest.mark.asvs("V6.2.11")
def test_context_words_only_when_present() -> None:
    assert check_new_password("velvet marble pier gate", PERSON) == []
    # Another person's context does not refuse it.
    other = PasswordContext(username="someone", full_name="Another Person", email="x@y.z")
    assert check_new_password("my zarmineh garden gate", other) == []


@pytest.mark.asvs("V6.2.11")
def test_context_words_match_after_nfkc_and_case_folding() -> None:
    problems = check_new_password("velvet ＺＡＲＭＩＮＥＨ pier gate", PERSON)
    assert "context_word" in codes(problems)


@pytest.mark.asvs("V6.2.11")
def test_short_name_parts_are_ignored() -> None:
    person = PasswordContext(full_name="Al B", username="qz")
    assert "context_word" not in codes(check_new_password("always qzbal harbor gate", person))


@pytest.mark.asvs("V6.2.11")
def test_context_lowers_the_strength_estimate() -> None:
    token = "xkcdqwzpvnbtr"
    assert estimate_strength(token, ALONE).score >= 3
    assert estimate_strength(token, PasswordContext(username=token)).score == 0


@pytest.mark.asvs("V6.2.11")
def test_context_does_not_linger_in_zxcvbn_state() -> None:
    check_new_password("velvet marble pier gate", PERSON)
    assert zxcvbn_matching.RANKED_DICTIONARIES.get("user_inputs", {}) == {}


# --- V6.2.5 no composition rules -------------------------------------------------------------


@pytest.mark.asvs("V6.2.5")
@pytest.mark.parametrize(
    "password",
    [
        "maple orbit gravel lantern",  # all lower case, spaces, no digits or symbols
        "quiet orbit fern and a kettle",
        "ایک لمبا اور آسان جملہ",  # Urdu, spaces
        " leading and trailing spaces ",
    ],
)
def test_no_composition_rules(password: str) -> None:
    assert check_new_password(password, ALONE) == []
    assert is_password_acceptable(password, ALONE)


# --- control characters ----------------------------------------------------------------------


@pytest.mark.asvs("V6.2.5")
@pytest.mark.parametrize("char", ["\x00", "\t", "\n", "\r", "\x1b", "\x7f", "\x85", "\x9b"])
def test_control_characters_refused(char: str) -> None:
    problems = check_new_password(f"maple orbit{char}gravel lantern", ALONE)
    assert codes(problems) == ["control_characters"]


@pytest.mark.asvs("V6.2.5")
@pytest.mark.parametrize("char", [" ", "\u00a0", "\u200d", "\u3000", "\u00e9"])
def test_non_control_unicode_allowed(char: str) -> None:
    assert check_new_password(f"maple orbit{char}gravel lantern", ALONE) == []


def test_unpaired_surrogates_refused() -> None:
    assert "invalid_unicode" in codes(check_new_password("maple orbit\ud800gravel", ALONE))


# --- messages never echo the password --------------------------------------------------------


def _all_messages() -> set[str]:
    """Every message the policy can produce (for the default MFA minimum)."""
    triggers = [
        ("", ALONE),
        ("", WITH_MFA),
        ("x" * 200, ALONE),
        ("baseball", WITH_MFA),
        ("a\x00", ALONE),
        ("\ud800", ALONE),
        ("zarminehq tahirovski qilavent labs amanat", PERSON),
        ("Pakistan@123456", ALONE),
        ("Butterfly@123456", ALONE),
    ]
    return {p.message for text, ctx in triggers for p in check_new_password(text, ctx)}


ALL_MESSAGES = _all_messages()
contexts = st.builds(
    PasswordContext,
    username=st.text(max_size=12),
    email=st.text(max_size=20),
    full_name=st.text(max_size=20),
    account_name=st.text(max_size=12),
    has_mfa=st.booleans(),
)


def test_the_message_catalogue_covers_every_code() -> None:
    produced = {
        p.code
        for text, ctx in [
            ("", ALONE),
            ("x" * 200, ALONE),
            ("baseball", WITH_MFA),
            ("a\x00", ALONE),
            ("\ud800", ALONE),
            ("amanat", ALONE),
            ("Karachi@12345678", ALONE),
            ("Butterfly@123456", ALONE),
        ]
        for p in check_new_password(text, ctx)
    }
    assert produced == {
        "too_short",
        "too_long",
        "common",
        "breached_pattern",
        "context_word",
        "control_characters",
        "invalid_unicode",
        "regional_word",
        "word_and_digits",
    }
    assert len(ALL_MESSAGES) == 14  # 2 too_short, 5 context kinds, 7 others


@pytest.mark.asvs("V6.2.4", "V6.2.11")
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(core=st.text(max_size=40), context=contexts)
def test_messages_never_contain_the_password(core: str, context: PasswordContext) -> None:
    password = core + "\u2603"  # a character no message contains
    problems = check_new_password(password, context)
    for problem in problems:
        assert password not in problem.message
        assert normalize_password(password) not in problem.message
        assert problem.message in ALL_MESSAGES  # a fixed text, independent of the input
    for entry in estimate_strength(password, context).feedback:
        assert password not in entry


# --- strength estimate -----------------------------------------------------------------------


@pytest.mark.asvs("V6.2.12")
def test_estimate_strength_labels_and_feedback() -> None:
    weak = estimate_strength("password", ALONE)
    assert weak.score == 0
    assert weak.label == "very weak"
    assert weak.crack_time_display == "less than a second"
    assert weak.feedback  # tells the person what to do

    strong = estimate_strength("zebra quartz lantern harbor", ALONE)
    assert strong.score == 4
    assert strong.label == "very strong"
    assert strong.crack_time_display == "centuries"
    assert strong.feedback == []


def test_estimate_strength_scores_only_the_first_100_characters() -> None:
    prefix = random_letters(ZXCVBN_MAX_CHARS, seed=6)
    # zxcvbn itself refuses input over 72 characters; the policy feeds it a prefix instead.
    first = estimate_strength(prefix + "a" * 28, ALONE)
    second = estimate_strength(prefix + "b" * 28, ALONE)
    assert first == second
    assert first.score == 4
