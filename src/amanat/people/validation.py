"""Validation and normalization of personal data fields, each with a clear per-field error.

The documented rules (ASVS V2.1.1):

- full name: any script, trimmed, inner whitespace collapsed, 1–200 characters;
- email: syntactically valid (no DNS look-up), domain lower-cased and kept in its ASCII form
  (IDNA A-label: `müller.de` is stored and mailed as `xn--mller-kva.de`); a local part
  beyond ASCII (it would need SMTPUTF8, which we do not speak) is refused; unique ignoring case;
- phone: parsed with default region PK and stored as E.164; a Pakistani number must be a
  mobile (`+92 3XX XXXXXXX`), a foreign one any valid number;
- CNIC: 13 digits, given as `#####-#######-#` or bare, stored as the bare digits;
- postal address: line 1, optional line 2, city, country (ISO 3166-1 alpha-2, default PK);
  in Pakistan a province or territory from the list and a 5-digit postal code, abroad a free
  text region and an optional postal code.

Every door trims and cleans a value before it checks a length: the limits below are the
fields' rules, and the input models only bound raw text generously (`input_bound`) against
abuse. An empty or blank value is not "no value" where it would erase one (`refuse_empty`).

Error messages name the field and the rule, never the value (no personal data in errors).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from amanat.core.errors import InvalidInput

FULL_NAME_MAX = 200
EMAIL_MAX = 254
PHONE_INPUT_MAX = 32
ADDRESS_LINE_MAX = 200
CITY_MAX = 100
REGION_MAX = 100
CNIC_INPUT_MAX = 15  # "#####-#######-#"
POSTAL_CODE_MAX = 12
DEFAULT_PHONE_REGION = "PK"
DEFAULT_COUNTRY = "PK"

# The fields an operator may require for identity verification (`require_identity_fields`).
IDENTITY_FIELDS = frozenset({"phone", "cnic", "address"})

PK_PROVINCES = (
    "Punjab",
    "Sindh",
    "Khyber Pakhtunkhwa",
    "Balochistan",
    "Islamabad Capital Territory",
    "Gilgit-Baltistan",
    "Azad Jammu and Kashmir",
)
_PROVINCE_ALIASES = {
    "kp": "Khyber Pakhtunkhwa",
    "kpk": "Khyber Pakhtunkhwa",
    "ict": "Islamabad Capital Territory",
    "islamabad": "Islamabad Capital Territory",
    "gb": "Gilgit-Baltistan",
    "ajk": "Azad Jammu and Kashmir",
    "azad kashmir": "Azad Jammu and Kashmir",
    "baluchistan": "Balochistan",
}

# ISO 3166-1 alpha-2, all 249 officially assigned codes.
COUNTRY_CODES = frozenset(
    " ".join(
        (
            "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE",
            "BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD",
            "CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM",
            "DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF",
            "GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU",
            "ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN",
            "KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME",
            "MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA",
            "NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM",
            "PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI",
            "SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK",
            "TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI",
            "VN VU WF WS YE YT ZA ZM ZW",
        )
    ).split()
)

_PHONE_CHARACTERS = re.compile(r"\+?[0-9 ()./-]+", re.ASCII)
_CNIC_PATTERN = re.compile(r"[0-9]{5}-[0-9]{7}-[0-9]|[0-9]{13}", re.ASCII)
_PK_POSTAL_CODE = re.compile(r"[0-9]{5}", re.ASCII)
_FOREIGN_POSTAL_CODE = re.compile(r"[A-Z0-9](?:[A-Z0-9 -]{0,10}[A-Z0-9])?", re.ASCII)
_ADDRESS_KEYS = ("line1", "line2", "city", "province", "postal_code", "country")

# Format characters (Cf) hide or reorder text; bidi overrides can make a name display as
# someone else's. The two joiners are the exception: Urdu, Persian and Indic names need them.
_ALLOWED_FORMAT_CHARACTERS = frozenset({"\u200c", "\u200d"})
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs"})


# How much longer than a field's own limit its raw input may be (surrounding and inner
# whitespace, dashes): the doors' bound against abuse, never the field's rule.
INPUT_BOUND_FACTOR = 4
EMPTY_VALUE_MESSAGE = "Leave the field out to keep it, or send null to remove it."
_FIELD_LABELS = {
    "full_name": "Full name",
    "email": "Email address",
    "phone": "Phone number",
    "cnic": "CNIC",
    "address": "Postal address",
}


def input_bound(limit: int) -> int:
    """The most raw characters a door accepts for a field whose rule allows ``limit``: room for
    whitespace around even a two-letter value, trimmed before the field's own rule runs."""
    return max(limit * INPUT_BOUND_FACTOR, limit + 64)


def _invalid(message: str, code: str, field: str) -> InvalidInput:
    return InvalidInput(message, code=code, field=field)


def refuse_empty(field: str, value: object) -> None:
    """An empty or blank text given for ``field`` where it would change a stored value: refused
    (`empty_value`), as erasing must be asked for explicitly (null)."""
    if isinstance(value, str) and not value.strip():
        label = _FIELD_LABELS.get(field, field)
        raise _invalid(f"{label} is empty. {EMPTY_VALUE_MESSAGE}", "empty_value", field)


def clean_text(value: str) -> str | None:
    """NFC, trimmed, inner whitespace collapsed; None when a character is not allowed."""
    text = " ".join(unicodedata.normalize("NFC", value).split())
    for ch in text:
        if ch not in _ALLOWED_FORMAT_CHARACTERS and unicodedata.category(ch) in _REFUSED_CATEGORIES:
            return None
    return text


def normalize_full_name(value: str) -> str:
    """Any script, trimmed, inner whitespace collapsed, 1–200 characters, no control characters."""
    name = clean_text(value)
    if name is None:
        raise _invalid(
            "Full name contains characters that are not allowed.", "invalid_full_name", "full_name"
        )
    if not name:
        raise _invalid("Full name is required.", "invalid_full_name", "full_name")
    if len(name) > FULL_NAME_MAX:
        raise _invalid(
            f"Full name must be at most {FULL_NAME_MAX} characters.",
            "invalid_full_name",
            "full_name",
        )
    return name


def normalize_email(value: str) -> str:
    """A syntactically valid address (no DNS look-up), local part kept, domain lower-cased in
    its ASCII form: an internationalized domain as its IDNA A-label (`xn--mller-kva.de`), the
    only form a mail header may carry (RFC 5321/5322 without SMTPUTF8)."""
    candidate = value.strip()
    if len(candidate) > EMAIL_MAX:
        raise _invalid("Email address is too long.", "invalid_email", "email")
    try:
        result = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError:
        # email-validator's message quotes the address; ours must not (no personal data in errors).
        raise _invalid("Email address is not valid.", "invalid_email", "email") from None
    if result.ascii_email is None:
        # The part before the @ is beyond ASCII: only SMTPUTF8 mail carries it, and we send none.
        raise _invalid(
            "Email address must use only ASCII letters, digits and punctuation before the @.",
            "invalid_email",
            "email",
        )
    if len(result.ascii_email) > EMAIL_MAX:
        raise _invalid("Email address is too long.", "invalid_email", "email")
    return result.ascii_email


def email_lookup_key(normalized_email: str) -> str:
    """What uniqueness and look-up compare: the address without case (mailboxes are treated
    case-insensitively by every provider people use)."""
    return normalized_email.casefold()


def name_words(full_name: str) -> list[str]:
    """The whole words of a name, case-folded, for search by any word."""
    return sorted({word.casefold() for word in full_name.split() if word})


def normalize_phone(value: str) -> str:
    """A valid phone number in E.164 (`+923001234567`); national numbers are read as Pakistani."""
    candidate = value.strip()
    if len(candidate) > PHONE_INPUT_MAX or not _PHONE_CHARACTERS.fullmatch(candidate):
        raise _invalid(
            "Phone number may contain only digits, spaces, + ( ) . - and at most "
            f"{PHONE_INPUT_MAX} characters.",
            "invalid_phone",
            "phone",
        )
    try:
        number = phonenumbers.parse(candidate, DEFAULT_PHONE_REGION)
    except phonenumbers.NumberParseException:
        raise _invalid("Phone number is not valid.", "invalid_phone", "phone") from None
    if not phonenumbers.is_valid_number(number):
        raise _invalid("Phone number is not valid.", "invalid_phone", "phone")
    if phonenumbers.region_code_for_number(number) == "PK" and (
        phonenumbers.number_type(number) != phonenumbers.PhoneNumberType.MOBILE
    ):
        raise _invalid(
            "A Pakistani phone number must be a mobile number: +92 3XX XXXXXXX.",
            "invalid_phone",
            "phone",
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def format_phone(e164: str) -> str:
    """International display form: `+92 300 1234567` for a Pakistani mobile."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def normalize_cnic(value: str) -> str:
    """The 13 digits of a CNIC given as `#####-#######-#` or as 13 bare digits."""
    candidate = value.strip()
    if not _CNIC_PATTERN.fullmatch(candidate):
        raise _invalid(
            "CNIC must be 13 digits, written #####-#######-# or without dashes.",
            "invalid_cnic",
            "cnic",
        )
    return candidate.replace("-", "")


def format_cnic(digits: str) -> str:
    """Display form `#####-#######-#` of the stored 13 digits."""
    return f"{digits[:5]}-{digits[5:12]}-{digits[12:]}"


@dataclass(frozen=True, repr=False)
class PostalAddress:
    """A validated postal address; encrypted as one value (its JSON form)."""

    line1: str
    city: str
    country: str = DEFAULT_COUNTRY
    line2: str | None = None
    province: str | None = None
    postal_code: str | None = None

    def to_json(self) -> str:
        # Sorted keys, as before: the same address always encrypts from the same text.
        return json.dumps(self.as_dict(), ensure_ascii=False, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PostalAddress:
        data = json.loads(text)
        return cls(**{key: data.get(key) for key in _ADDRESS_KEYS if data.get(key) is not None})

    def as_dict(self) -> dict[str, str | None]:
        # By hand: dataclasses.asdict deep-copies every value, a cost paid per person on import.
        return {
            "line1": self.line1,
            "city": self.city,
            "country": self.country,
            "line2": self.line2,
            "province": self.province,
            "postal_code": self.postal_code,
        }

    def __repr__(self) -> str:
        return "PostalAddress(...)"


def _address_part(raw: Mapping[str, object], key: str, *, limit: int, label: str, code: str) -> str:
    """One part of an address, cleaned; "" when absent or blank."""
    value = raw.get(key)
    field = f"address.{key}"
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _invalid(f"{label} must be text.", code, field)
    text = clean_text(value)
    if text is None:
        raise _invalid(f"{label} contains characters that are not allowed.", code, field)
    if len(text) > limit:
        raise _invalid(f"{label} must be at most {limit} characters.", code, field)
    return text


def _pk_province(text: str) -> str:
    key = " ".join(text.replace("-", " ").casefold().split())
    for province in PK_PROVINCES:
        if key == " ".join(province.replace("-", " ").casefold().split()):
            return province
    if key in _PROVINCE_ALIASES:
        return _PROVINCE_ALIASES[key]
    raise _invalid(
        "Province or territory must be one of: " + ", ".join(PK_PROVINCES) + ".",
        "invalid_province",
        "address.province",
    )


def given_address(parts: Mapping[str, str | None]) -> dict[str, str] | None:
    """An address given part by part (form fields, command-line options), as `normalize_address`
    takes it: blank parts are left out, and nothing but a country means no address at all."""
    given = {key: value for key, value in parts.items() if value is not None and value.strip()}
    if not given.keys() - {"country"}:
        return None
    return given


def normalize_address(value: Mapping[str, object] | PostalAddress) -> PostalAddress:
    """Validate an address given as a mapping of its parts; parts we do not collect are refused."""
    raw: Mapping[str, object] = value.as_dict() if isinstance(value, PostalAddress) else value
    if any(key not in _ADDRESS_KEYS for key in raw):
        raise _invalid(
            "Address may only have line1, line2, city, province, postal_code and country.",
            "unknown_field",
            "address",
        )
    line1 = _address_part(
        raw, "line1", limit=ADDRESS_LINE_MAX, label="Address line 1", code="invalid_address"
    )
    if not line1:
        raise _invalid("Address line 1 is required.", "invalid_address", "address.line1")
    line2 = _address_part(
        raw, "line2", limit=ADDRESS_LINE_MAX, label="Address line 2", code="invalid_address"
    )
    city = _address_part(raw, "city", limit=CITY_MAX, label="City", code="invalid_address")
    if not city:
        raise _invalid("City is required.", "invalid_address", "address.city")
    country = (
        _address_part(raw, "country", limit=2, label="Country", code="invalid_country").upper()
        or DEFAULT_COUNTRY
    )
    if country not in COUNTRY_CODES:
        raise _invalid(
            "Country must be a two-letter ISO 3166-1 code, such as PK.",
            "invalid_country",
            "address.country",
        )
    province = _address_part(
        raw, "province", limit=REGION_MAX, label="Province or region", code="invalid_province"
    )
    postal_code = _address_part(
        raw, "postal_code", limit=POSTAL_CODE_MAX, label="Postal code", code="invalid_postal_code"
    ).upper()
    if country == "PK":
        province = _pk_province(province)
        if not _PK_POSTAL_CODE.fullmatch(postal_code):
            raise _invalid(
                "A Pakistani postal code is 5 digits.", "invalid_postal_code", "address.postal_code"
            )
    elif postal_code and not _FOREIGN_POSTAL_CODE.fullmatch(postal_code):
        raise _invalid(
            "Postal code may have only letters, digits, spaces and dashes (1–12 characters).",
            "invalid_postal_code",
            "address.postal_code",
        )
    return PostalAddress(
        line1=line1,
        line2=line2 or None,
        city=city,
        province=province or None,
        postal_code=postal_code or None,
        country=country,
    )
