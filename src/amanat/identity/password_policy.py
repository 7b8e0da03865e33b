"""Password policy: what a new password must satisfy (NIST SP 800-63B-4, ASVS 5.0 V6.2).

Pure functions; the only data read is zxcvbn's bundled frequency lists (no network, no files of
our own). The rules:

* Normalization is NFKC, fixed once and for all (changing it would orphan every stored hash).
  The stored value is ``normalize_password(typed)``: no truncation, no case change, no trimming.
* Length is counted in Unicode code points *after* NFKC: at least ``MIN_LENGTH_SINGLE_FACTOR``
  (15) for a password used on its own, at least ``MIN_LENGTH_WITH_MFA`` (8, an operator may raise
  it but never lower it) when it is one factor of multi-factor authentication, at most
  ``MAX_LENGTH`` (128).
* No composition rules: any Unicode text is allowed, spaces and emoji included, except control
  characters (C0, DEL and C1) and unpaired surrogates (which cannot be encoded for hashing).
* The whole password is checked against a blocklist: zxcvbn's list of leaked passwords
  (the ones of 8 characters or more), compared case-insensitively.
* Breached-style passwords are refused: zxcvbn's dictionaries are built from leaked password
  lists, so a zxcvbn score below 3 means "follows the patterns of passwords seen in breaches".
* Context words are refused: the username, words of the person's name, the email address (whole
  or its local part), the account's name, and the service's own name.
* Regional words (Pakistan, its provinces and cities, common slogans, in Roman and Urdu script;
  `password_words`) are refused as the whole password, bare or with symbols and digits around
  them, and count as dictionary words for zxcvbn inside a longer one.
* One dictionary word with only symbols and digits added ("Word@123456") is refused.

Every refusal comes with a message saying why; messages never contain the password nor the
context value that matched (only which kind of context it was).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Final

from zxcvbn import matching as _zxcvbn_matching
from zxcvbn import zxcvbn as _zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS as _ZXCVBN_FREQUENCY_LISTS

from amanat.identity.password_words import REGIONAL_WORDS, fold_script, word_pattern_problem

__all__ = [
    "COMMON_LIST_MIN_ENTRY_LENGTH",
    "CONTEXT_WORD_MIN_LENGTH",
    "MAX_LENGTH",
    "MIN_LENGTH_SINGLE_FACTOR",
    "MIN_LENGTH_WITH_MFA",
    "MIN_ZXCVBN_SCORE",
    "NORMALIZATION_FORM",
    "SERVICE_NAME",
    "ZXCVBN_MAX_CHARS",
    "PasswordContext",
    "PasswordProblem",
    "PasswordStrength",
    "check_new_password",
    "common_passwords",
    "estimate_strength",
    "is_on_common_list",
    "is_password_acceptable",
    "minimum_length",
    "normalize_password",
]

NORMALIZATION_FORM: Final = "NFKC"
MIN_LENGTH_SINGLE_FACTOR: Final = 15
MIN_LENGTH_WITH_MFA: Final = 8
MAX_LENGTH: Final = 128

# NFKC never shrinks text by more than a factor of 4 (no code point has a canonical
# decomposition longer than 4, and NFKD(x) == NFD(NFKC(x))), so input longer than this is
# certainly over MAX_LENGTH after normalization; it is refused without further work.
_MAX_NFKC_SHRINK: Final = 4
_RAW_LENGTH_CUTOFF: Final = MAX_LENGTH * _MAX_NFKC_SHRINK

# zxcvbn's cost grows quickly with length: its dictionary matchers look up every substring
# (quadratic), once per plausible l33t substitution (up to several hundred when many of
# `4@8({[<3&69!|1+7$5%02` appear). Measured on one core: ~0.4 s for 32 such characters, ~3 s for
# 100, ~5 s for 128. Characters past the prefix can only add guesses, so scoring the prefix never
# makes a password look stronger than it is; 32 keeps a crafted input near half a second.
ZXCVBN_MAX_CHARS: Final = 32
MIN_ZXCVBN_SCORE: Final = 3

COMMON_LIST_MIN_ENTRY_LENGTH: Final = 8
_COMMON_LIST_REQUIRED_SIZE: Final = 3000

SERVICE_NAME: Final = "amanat"
CONTEXT_WORD_MIN_LENGTH: Final = 3

STRENGTH_LABELS: Final = ("very weak", "weak", "fair", "strong", "very strong")
# The attack that matters for us: an offline attack on a stolen argon2id hash.
_CRACK_TIME_SCENARIO: Final = "offline_slow_hashing_1e4_per_second"

# zxcvbn keeps the user inputs of the latest call in a module-level dict, so concurrent calls
# would see one another's inputs (and the last user's name/email would linger there). All calls
# go through this lock, and the inputs are cleared afterwards. zxcvbn is pure Python, so the GIL
# already serializes it: the lock costs no throughput.
_ZXCVBN_LOCK: Final = threading.Lock()

_WORD_SPLIT: Final = re.compile(r"[\W_]+")
_EMAIL_LOCAL_SPLIT: Final = re.compile(r"[.+\-_]+")


@dataclass(frozen=True)
class PasswordContext:
    """What we know about the person and the account, for the context-word check."""

    username: str = ""
    email: str = ""
    full_name: str = ""
    account_name: str = ""
    has_mfa: bool = False


@dataclass(frozen=True)
class PasswordProblem:
    """One reason a new password is refused. `message` is for the person; it never contains the
    password or the matched context value."""

    code: str
    message: str


@dataclass(frozen=True)
class PasswordStrength:
    """zxcvbn's estimate, for the strength meter and the security page."""

    score: int
    label: str
    crack_time_display: str
    feedback: list[str] = field(default_factory=list)


# --- messages: fixed text, parameterized only by policy numbers, never by the password ---

_MSG_CONTROL = (
    "It contains control characters (such as tabs or line breaks), which are not allowed in "
    "passwords."
)
_MSG_INVALID_UNICODE = (
    "It contains characters that are not valid Unicode text (unpaired surrogates)."
)
_MSG_TOO_LONG = f"It is too long: a password can have at most {MAX_LENGTH} characters."
_MSG_COMMON = (
    "It is on a list of commonly used passwords, which attackers try first. Choose something "
    "less predictable."
)
_MSG_BREACHED = (
    "It is too easy to guess: it follows the patterns of passwords exposed in data breaches "
    "(common words, names, dates, keyboard runs, repeats or predictable substitutions). "
    "A few uncommon words together make a strong password."
)
_CONTEXT_KINDS: Final = ("username", "name", "email", "account_name", "service_name")
_MSG_CONTEXT: Final = {
    "username": "It contains your username, which attackers try first.",
    "name": "It contains part of your name, which attackers try first.",
    "email": "It contains your email address or part of it, which attackers try first.",
    "account_name": "It contains your account's name, which attackers try first.",
    "service_name": "It contains the name of this service, which attackers try first.",
}


def _too_short_message(min_length: int, has_mfa: bool) -> str:
    if has_mfa:
        return (
            f"It is too short: with two-step verification on, a password needs at least "
            f"{min_length} characters."
        )
    return (
        f"It is too short: a password used on its own (without two-step verification) needs "
        f"at least {min_length} characters."
    )


# --- normalization and length ---


def normalize_password(password: str) -> str:
    """The form that is checked, hashed and verified: NFKC, nothing else (no case change, no
    trimming, no truncation). Fixed once and for all."""
    return unicodedata.normalize(NORMALIZATION_FORM, password)


def minimum_length(has_mfa: bool, *, min_length_with_mfa: int = MIN_LENGTH_WITH_MFA) -> int:
    """The minimum length in code points: 15 alone; with MFA the operator's value, never < 8."""
    if not has_mfa:
        return MIN_LENGTH_SINGLE_FACTOR
    return min(max(min_length_with_mfa, MIN_LENGTH_WITH_MFA), MAX_LENGTH)


def _has_control_characters(text: str) -> bool:
    # Category Cc is exactly C0 (U+0000-U+001F), DEL (U+007F) and C1 (U+0080-U+009F).
    return any(unicodedata.category(ch) == "Cc" for ch in text)


def _has_unpaired_surrogates(text: str) -> bool:
    return any(0xD800 <= ord(ch) <= 0xDFFF for ch in text)


# --- the common-password list ---


@cache
def common_passwords() -> frozenset[str]:
    """zxcvbn's leaked-password list (ranked by frequency), keeping entries of 8 characters or
    more (shorter ones are refused by length anyway), lower-case. Built once."""
    source: Any = _ZXCVBN_FREQUENCY_LISTS["passwords"]
    entries = frozenset(
        _fold(str(word))
        for word in source
        if len(normalize_password(str(word))) >= COMMON_LIST_MIN_ENTRY_LENGTH
    )
    if len(entries) < _COMMON_LIST_REQUIRED_SIZE:  # pragma: no cover - depends on zxcvbn's data
        raise RuntimeError(
            f"the common-password list has {len(entries)} entries; "
            f"at least {_COMMON_LIST_REQUIRED_SIZE} are required"
        )
    return entries


def _fold(text: str) -> str:
    """Normalized, case-insensitive form for comparisons (never stored)."""
    return normalize_password(text).casefold()


def is_on_common_list(password: str) -> bool:
    """Whether the whole password (normalized, case-insensitively) is on the common list.
    At sign-in, a match is evidence of compromise: force a change."""
    return _fold(password) in common_passwords()


# --- context words ---


def _words(text: str, min_length: int = CONTEXT_WORD_MIN_LENGTH) -> list[str]:
    return [w for w in _WORD_SPLIT.split(text) if len(w) >= min_length]


def _context_words(context: PasswordContext) -> dict[str, list[str]]:
    """Case-folded context words by kind; words shorter than 3 characters are ignored (they
    would refuse most passwords while telling an attacker almost nothing)."""
    username = _fold(context.username).strip()
    email = _fold(context.email).strip()
    full_name = _fold(context.full_name).strip()
    account_name = _fold(context.account_name).strip()

    email_words: list[str] = []
    if email:
        email_words.append(email)
        local = email.rpartition("@")[0] if "@" in email else email
        email_words.append(local)
        email_words.extend(_EMAIL_LOCAL_SPLIT.split(local))

    account_words = [account_name, re.sub(r"[\W_]+", "", account_name)]

    kinds: dict[str, list[str]] = {
        "username": [username],
        "name": _words(full_name),
        "email": email_words,
        "account_name": account_words,
        "service_name": [SERVICE_NAME],
    }
    return {
        kind: sorted({w for w in words if len(w) >= CONTEXT_WORD_MIN_LENGTH})
        for kind, words in kinds.items()
    }


def _zxcvbn_user_inputs(context: PasswordContext) -> list[str]:
    words: set[str] = set()
    for kind_words in _context_words(context).values():
        words.update(kind_words)
    for value in (context.username, context.full_name, context.account_name, context.email):
        words.update(_words(_fold(value)))
    # The regional words first, in a fixed order: zxcvbn ranks user inputs by position, so their
    # weight is the same for everyone (and for the anonymous strength meter).
    regional = _regional_inputs()
    return [*regional, *sorted(words.difference(regional))]


@cache
def _regional_inputs() -> tuple[str, ...]:
    folded = (form for word in REGIONAL_WORDS for form in (_fold(word), fold_script(word)))
    return tuple(dict.fromkeys(folded))


def _context_problems(folded_password: str, context: PasswordContext) -> list[PasswordProblem]:
    by_kind = _context_words(context)
    return [
        PasswordProblem("context_word", _MSG_CONTEXT[kind])
        for kind in _CONTEXT_KINDS
        if any(word in folded_password for word in by_kind[kind])
    ]


# --- zxcvbn ---


def _run_zxcvbn(normalized: str, user_inputs: Iterable[str]) -> dict[str, Any]:
    prefix = normalized[:ZXCVBN_MAX_CHARS]
    with _ZXCVBN_LOCK:
        try:
            result: dict[str, Any] = _zxcvbn(
                prefix, user_inputs=list(user_inputs), max_length=ZXCVBN_MAX_CHARS
            )
        finally:
            _zxcvbn_matching.RANKED_DICTIONARIES["user_inputs"] = {}
    return result


def estimate_strength(password: str, context: PasswordContext) -> PasswordStrength:
    """zxcvbn's score (0-4), a label, the time to crack a stolen argon2id hash, and advice
    (zxcvbn's warning first, then its suggestions). Scores only the first 32 characters."""
    normalized = normalize_password(password)
    if not normalized:  # zxcvbn fails on empty input; nothing is the weakest there is
        return PasswordStrength(0, STRENGTH_LABELS[0], "less than a second", [])
    result = _run_zxcvbn(normalized, _zxcvbn_user_inputs(context))
    score = max(0, min(4, int(result["score"])))
    feedback_raw: dict[str, Any] = result.get("feedback") or {}
    feedback: list[str] = []
    warning = str(feedback_raw.get("warning") or "")
    if warning:
        feedback.append(warning)
    feedback.extend(str(s) for s in feedback_raw.get("suggestions") or [] if s)
    return PasswordStrength(
        score=score,
        label=STRENGTH_LABELS[score],
        crack_time_display=str(result["crack_times_display"][_CRACK_TIME_SCENARIO]),
        feedback=feedback,
    )


# --- the policy ---


def check_new_password(
    password: str,
    context: PasswordContext,
    *,
    min_length_with_mfa: int = MIN_LENGTH_WITH_MFA,
) -> list[PasswordProblem]:
    """Every reason `password` cannot be set as a new password; an empty list means accepted.

    Order: characters, length, common list, context words, regional words and the word-and-digits
    pattern, guessability. Input so long that it
    must exceed MAX_LENGTH after NFKC gets only `too_long`, without further work.
    """
    if len(password) > _RAW_LENGTH_CUTOFF:
        return [PasswordProblem("too_long", _MSG_TOO_LONG)]

    problems: list[PasswordProblem] = []
    normalized = normalize_password(password)

    if _has_control_characters(password) or _has_control_characters(normalized):
        problems.append(PasswordProblem("control_characters", _MSG_CONTROL))
    if _has_unpaired_surrogates(normalized):
        problems.append(PasswordProblem("invalid_unicode", _MSG_INVALID_UNICODE))

    length = len(normalized)  # code points, after NFKC
    min_length = minimum_length(context.has_mfa, min_length_with_mfa=min_length_with_mfa)
    if length < min_length:
        problems.append(
            PasswordProblem("too_short", _too_short_message(min_length, context.has_mfa))
        )
    if length > MAX_LENGTH:
        problems.append(PasswordProblem("too_long", _MSG_TOO_LONG))

    folded = normalized.casefold()
    if folded in common_passwords():
        problems.append(PasswordProblem("common", _MSG_COMMON))

    problems.extend(_context_problems(folded, context))
    if (pattern := word_pattern_problem(normalized)) is not None:
        problems.append(PasswordProblem(*pattern))

    if normalized:
        result = _run_zxcvbn(normalized, _zxcvbn_user_inputs(context))
        if int(result["score"]) < MIN_ZXCVBN_SCORE:
            problems.append(PasswordProblem("breached_pattern", _MSG_BREACHED))

    return problems


def is_password_acceptable(
    password: str,
    context: PasswordContext,
    *,
    min_length_with_mfa: int = MIN_LENGTH_WITH_MFA,
) -> bool:
    """True when `check_new_password` finds nothing wrong."""
    return not check_new_password(password, context, min_length_with_mfa=min_length_with_mfa)
