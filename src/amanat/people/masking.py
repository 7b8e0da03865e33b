"""Masked display of personal data: what every door (API, HTML, CSV, logs) shows unless the
person is looking at their own data or a reveal was granted (ASVS V14.2.6).

Each function takes the stored, normalized value and keeps just enough to recognise it:

- name: initials, `A. K.`;
- email: first character and the domain, `a***@example.com`;
- phone: country code, first national digit, last three digits, `+92 3** ****567`;
- CNIC: the 5-digit locality prefix and the check digit, `35202-*******-1`;
- address: the city only.
"""

from __future__ import annotations

import phonenumbers

from amanat.people.validation import PostalAddress

_HIDDEN = "***"
_PHONE_TAIL = 3
_PHONE_TAIL_MIN_LENGTH = 7  # shorter numbers keep only their first digit


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else _HIDDEN


def mask_full_name(full_name: str) -> str:
    """Initials only: "Ayesha Khan" → "A. K."."""
    return " ".join(f"{word[0]}." for word in full_name.split() if word) or _HIDDEN


def mask_phone(e164: str) -> str:
    """`+923001234567` → `+92 3** ****567`: the international layout, national digits hidden
    but the first and the last three."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return _HIDDEN
    shown = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    prefix = f"+{number.country_code}"
    if not shown.startswith(prefix):
        return _HIDDEN
    national = shown[len(prefix) :]
    total = sum(ch.isdigit() for ch in national)
    keep_tail = _PHONE_TAIL if total >= _PHONE_TAIL_MIN_LENGTH else 0
    out: list[str] = []
    seen = 0
    for ch in national:
        if not ch.isdigit():
            out.append(ch)
            continue
        out.append(ch if seen == 0 or seen >= total - keep_tail else "*")
        seen += 1
    return prefix + "".join(out)


def mask_cnic(digits: str) -> str:
    """`3520212345671` → `35202-*******-1`."""
    if len(digits) != 13:
        return _HIDDEN
    return f"{digits[:5]}-*******-{digits[12]}"


def mask_address(address: PostalAddress) -> str:
    """The city only."""
    return address.city
