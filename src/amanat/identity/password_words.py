"""Words attackers try first in Pakistan, and the "Word@123456" pattern (ASVS V6.2.11, V6.2.12).

Pure data and pure functions for `password_policy`. The regional words are the country, its
provinces and major cities, and common slogans, in Roman and Urdu script. They are refused as a
whole password (with or without symbols and digits around them), not as a part of a longer
passphrase: "tea at lahore fort under monsoon clouds" is a fine password. Inside a longer one they
count as dictionary words for zxcvbn, which lowers the score of a password built of them.

The pattern check refuses one dictionary or regional word dressed up with symbols and digits
only ("Pakistan@123456", "Butterfly#2024!"): the first thing a guessing attack tries.
"""

from __future__ import annotations

import unicodedata
from functools import cache
from typing import Any, Final

from zxcvbn.frequency_lists import FREQUENCY_LISTS as _ZXCVBN_FREQUENCY_LISTS

__all__ = [
    "REGIONAL_WORDS",
    "decorated_core",
    "dictionary_words",
    "fold_script",
    "is_regional",
    "regional_words",
    "word_pattern_problem",
]

MSG_REGIONAL: Final = (
    "It is a well-known place name or slogan (such as Pakistan, a city, a province or a national "
    "slogan), with at most symbols or digits added, which attackers try first."
)
MSG_WORD_AND_DIGITS: Final = (
    "It is one common word with only symbols and digits added (like Word@123456), a pattern "
    "attackers try first. A few uncommon words together make a strong password."
)

#: Shorter dictionary entries are left to zxcvbn: "abc@123…" needs no list.
_DICTIONARY_MIN_LENGTH: Final = 3

REGIONAL_WORDS: Final[tuple[str, ...]] = (
    # the country and its provinces and regions
    "pakistan",
    "punjab",
    "sindh",
    "balochistan",
    "baluchistan",
    "khyber pakhtunkhwa",
    "pakhtunkhwa",
    "khyber",
    "gilgit",
    "gilgit baltistan",
    "baltistan",
    "kashmir",
    "azad kashmir",
    # major cities
    "karachi",
    "lahore",
    "islamabad",
    "rawalpindi",
    "pindi",
    "faisalabad",
    "multan",
    "peshawar",
    "quetta",
    "hyderabad",
    "sialkot",
    "gujranwala",
    "bahawalpur",
    "sargodha",
    "abbottabad",
    "murree",
    "sukkur",
    "larkana",
    # slogans and common phrases
    "pakistan zindabad",
    "zindabad",
    "pakistan paindabad",
    "jeevay pakistan",
    "jeeve pakistan",
    "jiye pakistan",
    "allah hu akbar",
    "allahu akbar",
    "allah o akbar",
    "bismillah",
    "mashallah",
    "inshallah",
    "subhanallah",
    "alhamdulillah",
    "quaid e azam",
    "quaideazam",
    "jinnah",
    "long live pakistan",
    "i love pakistan",
    # Urdu script
    "پاکستان",
    "پنجاب",
    "سندھ",
    "بلوچستان",
    "خیبر پختونخوا",
    "گلگت",
    "گلگت بلتستان",
    "کشمیر",
    "آزاد کشمیر",
    "کراچی",
    "لاہور",
    "اسلام آباد",
    "راولپنڈی",
    "فیصل آباد",
    "ملتان",
    "پشاور",
    "کوئٹہ",
    "حیدرآباد",
    "سیالکوٹ",
    "گوجرانوالہ",
    "زندہ باد",
    "پاکستان زندہ باد",
    "پاکستان پائندہ باد",
    "جیوے پاکستان",
    "اللہ اکبر",
    "اللہ ہو اکبر",
    "بسم اللہ",
    "ماشاءاللہ",
    "ان شاء اللہ",
    "سبحان اللہ",
    "الحمدللہ",
    "قائد اعظم",
)

# Arabic-script letters typed in more than one way (Arabic and Urdu keyboards): one form each.
_SCRIPT_VARIANTS: Final = str.maketrans(
    {
        "\u0647": "\u06c1",  # ه Arabic heh -> ہ Urdu heh goal
        "\u06d5": "\u06c1",  # ە ae -> ہ
        "\u064a": "\u06cc",  # ي Arabic yeh -> ی Farsi yeh
        "\u0649": "\u06cc",  # ى alef maksura -> ی
        "\u0643": "\u06a9",  # ك Arabic kaf -> ک keheh
        "\u0622": "\u0627",  # آ alef with madda -> ا
        "\u0623": "\u0627",  # أ
        "\u0625": "\u0627",  # إ
        "\u0621": "",  # ء hamza: written or left out
        "\u0654": "",  # combining hamza above
        "\u200c": "",  # zero-width non-joiner
        "\u200d": "",  # zero-width joiner
        "\u0640": "",  # tatweel
    }
)


def fold_script(text: str) -> str:
    """NFKC, case-folded, one form for Arabic-script variants, without spaces, marks or
    hyphens: "Pakistan Zindabad", "pakistanzindabad" and "پاکستان زندہ باد" compare as typed
    by anyone."""
    folded = unicodedata.normalize("NFKC", text).casefold().translate(_SCRIPT_VARIANTS)
    return "".join(
        ch
        for ch in folded
        if not ch.isspace() and ch not in "-'" and not unicodedata.category(ch).startswith("M")
    )


@cache
def regional_words() -> frozenset[str]:
    """The regional words and phrases, folded by `fold_script`."""
    return frozenset(fold_script(word) for word in REGIONAL_WORDS)


def is_regional(text: str) -> bool:
    """Whether `text` is one of the regional words or phrases, however spaced or written."""
    folded = fold_script(text)
    return bool(folded) and folded in regional_words()


@cache
def dictionary_words() -> frozenset[str]:
    """Every word of zxcvbn's lists (leaked passwords, English, names, surnames, film and TV),
    case-folded, of 3 characters or more. Built once."""
    lists: Any = _ZXCVBN_FREQUENCY_LISTS
    return frozenset(
        word.casefold()
        for entries in lists.values()
        for word in (str(entry) for entry in entries)
        if len(word) >= _DICTIONARY_MIN_LENGTH
    )


def _is_word_character(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "LM" or ch in "\u200c\u200d"


def decorated_core(normalized: str) -> tuple[str, bool] | None:
    """(the words, whether anything is around them) when `normalized` is words of letters
    (spaces between them allowed) with only symbols, digits or spaces before and after; None
    when letters and other characters mix ("Pa55word", "two words-3-more")."""
    start, end = 0, len(normalized)
    while start < end and not _is_word_character(normalized[start]):
        start += 1
    while end > start and not _is_word_character(normalized[end - 1]):
        end -= 1
    core = normalized[start:end]
    if not core or any(not (_is_word_character(ch) or ch == " ") for ch in core):
        return None
    decorated = normalized[:start].strip() != "" or normalized[end:].strip() != ""
    return core, decorated


def word_pattern_problem(normalized: str) -> tuple[str, str] | None:
    """(code, message) when `normalized` is a regional word or phrase, bare or with symbols and
    digits around it ("regional_word"), or one dictionary word with only symbols and digits
    added ("word_and_digits"); None otherwise."""
    found = decorated_core(normalized)
    if found is None:
        return None
    core, decorated = found
    if is_regional(core):
        return "regional_word", MSG_REGIONAL
    if decorated and " " not in core and core.casefold() in dictionary_words():
        return "word_and_digits", MSG_WORD_AND_DIGITS
    return None
