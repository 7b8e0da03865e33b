"""Validation and normalization of personal data fields, each with a clear per-field error."""

from __future__ import annotations

import unicodedata

from email_validator import EmailNotValidError, validate_email

from amanat.core.errors import InvalidInput

FULL_NAME_MAX = 200


def normalize_full_name(value: str) -> str:
    """Any script, trimmed, inner whitespace collapsed, 1–200 characters, no control characters."""
    name = " ".join(unicodedata.normalize("NFC", value).split())
    if not name:
        raise InvalidInput("Full name is required.", code="invalid_full_name", field="full_name")
    if len(name) > FULL_NAME_MAX:
        raise InvalidInput(
            f"Full name must be at most {FULL_NAME_MAX} characters.",
            code="invalid_full_name",
            field="full_name",
        )
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs") for ch in name):
        raise InvalidInput(
            "Full name contains characters that are not allowed.",
            code="invalid_full_name",
            field="full_name",
        )
    return name


def normalize_email(value: str) -> str:
    """A syntactically valid address (no DNS look-up), domain lower-cased; local part kept."""
    candidate = value.strip()
    if len(candidate) > 254:
        raise InvalidInput("Email address is too long.", code="invalid_email", field="email")
    try:
        result = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError:
        # email-validator's message quotes the address; ours must not (no personal data in errors).
        raise InvalidInput(
            "Email address is not valid.", code="invalid_email", field="email"
        ) from None
    return result.normalized


def email_lookup_key(normalized_email: str) -> str:
    """What uniqueness and look-up compare: the address without case (mailboxes are treated
    case-insensitively by every provider people use)."""
    return normalized_email.casefold()


def name_words(full_name: str) -> list[str]:
    """The whole words of a name, case-folded, for search by any word."""
    return sorted({word.casefold() for word in full_name.split() if word})
