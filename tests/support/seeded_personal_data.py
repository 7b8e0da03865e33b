"""The personal values a test has seeded, in every form they can take on the way out.

A value is kept as typed and as the service stores or shows it (a phone as typed, in E.164,
international, national and bare digits; a CNIC with and without dashes), each form also as
JSON and HTML would escape it. Values shorter than `MIN_LENGTH` are not kept: too short to
mean anyone, too likely to match by chance. Matching ignores case (emails are case-insensitive,
and a name in capitals is still the name).
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import phonenumbers
from markupsafe import escape

from amanat.people.validation import (
    DEFAULT_PHONE_REGION,
    PostalAddress,
    clean_text,
    format_cnic,
)

MIN_LENGTH = 6

FULL_NAME = "full name"
EMAIL = "email"
PHONE = "phone"
CNIC = "CNIC"
ADDRESS_LINE = "address line"

_PHONE_FORMATS = (
    phonenumbers.PhoneNumberFormat.E164,
    phonenumbers.PhoneNumberFormat.INTERNATIONAL,
    phonenumbers.PhoneNumberFormat.NATIONAL,
)


@dataclass(frozen=True)
class Match:
    """A seeded value found in a text: its kind, the value as seeded, the form found, where."""

    kind: str
    value: str
    form: str
    position: int


def _escaped(form: str) -> set[str]:
    """The form as written, and as a JSON string, Jinja and `html.escape` would write it."""
    return {form, json.dumps(form)[1:-1], str(escape(form)), html.escape(form)}


def phone_forms(typed: str) -> set[str]:
    """A phone number as typed and in every form the service may store or show."""
    forms = {typed.strip()}
    try:
        number = phonenumbers.parse(typed, DEFAULT_PHONE_REGION)
    except phonenumbers.NumberParseException:
        return forms
    for style in _PHONE_FORMATS:
        written = phonenumbers.format_number(number, style)
        forms.add(written)
        forms.add("".join(ch for ch in written if ch.isdigit()))
    return forms


def cnic_forms(typed: str) -> set[str]:
    """A CNIC as typed, as its 13 bare digits and as `#####-#######-#`."""
    forms = {typed.strip()}
    digits = "".join(ch for ch in typed if ch.isdigit())
    if len(digits) == 13:
        forms.update({digits, format_cnic(digits)})
    return forms


class SeededPersonalData:
    """The values seeded during one test; `matches(text)` names those that appear in a text."""

    def __init__(self) -> None:
        # needle (case-folded) -> (kind, value as seeded, form the needle spells)
        self._kinds: dict[str, tuple[str, str, str]] = {}

    def __bool__(self) -> bool:
        return bool(self._kinds)

    def __contains__(self, form: object) -> bool:
        return isinstance(form, str) and form.strip().casefold() in self._kinds

    def add(self, kind: str, value: str, forms: Iterable[str] = ()) -> None:
        """Keep a value and its other forms (and their escaped spellings), each form long
        enough to mean someone."""
        value = value.strip()
        for form in {value, *(form.strip() for form in forms)}:
            if len(form) < MIN_LENGTH:
                continue
            for needle in _escaped(form):
                self._kinds.setdefault(needle.casefold(), (kind, value, form))

    def add_full_name(self, typed: object) -> None:
        if isinstance(typed, str):
            cleaned = clean_text(typed)
            self.add(FULL_NAME, typed, [cleaned] if cleaned else [])

    def add_email(self, typed: object) -> None:
        if isinstance(typed, str):
            self.add(EMAIL, typed)

    def add_phone(self, typed: object) -> None:
        if isinstance(typed, str):
            self.add(PHONE, typed, phone_forms(typed))

    def add_cnic(self, typed: object) -> None:
        if isinstance(typed, str):
            self.add(CNIC, typed, cnic_forms(typed))

    def add_address(self, typed: object) -> None:
        """The street lines (the city is what masking shows, and a postal code is too short)."""
        parts: Mapping[str, object]
        if isinstance(typed, PostalAddress):
            parts = typed.as_dict()
        elif isinstance(typed, Mapping):
            parts = typed
        else:
            return
        for key in ("line1", "line2"):
            line = parts.get(key)
            if isinstance(line, str):
                cleaned = clean_text(line)
                self.add(ADDRESS_LINE, line, [cleaned] if cleaned else [])

    def add_fields(self, fields: Mapping[str, object]) -> None:
        """Person fields by their service names (`full_name`, `email`, `phone`, `cnic`,
        `address`); other names are not personal data and are ignored."""
        adders = {
            "full_name": self.add_full_name,
            "email": self.add_email,
            "phone": self.add_phone,
            "cnic": self.add_cnic,
            "address": self.add_address,
        }
        for name, value in fields.items():
            adder = adders.get(name)
            if adder is not None:
                adder(value)

    def matches(self, text: str) -> list[Match]:
        """Each seeded value found in `text`, once (in the longest of its forms found)."""
        folded = text.casefold()
        found: dict[tuple[str, str], Match] = {}
        for needle, (kind, value, form) in self._kinds.items():
            position = folded.find(needle)
            if position < 0:
                continue
            earlier = found.get((kind, value))
            if earlier is None or len(form) > len(earlier.form):
                found[(kind, value)] = Match(kind, value, form, position)
        return list(found.values())
