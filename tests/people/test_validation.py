"""Every personal-data field has a documented rule and a clear per-field error that never
echoes the value (ASVS V2.1.1, V2.2.1)."""

from __future__ import annotations

import dataclasses
import unicodedata

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from amanat.core.errors import InvalidInput
from amanat.people.validation import (
    COUNTRY_CODES,
    PK_PROVINCES,
    PostalAddress,
    format_cnic,
    format_phone,
    name_words,
    normalize_address,
    normalize_cnic,
    normalize_email,
    normalize_full_name,
    normalize_phone,
)

pytestmark = [
    pytest.mark.asvs("V2.1.1", "V2.2.1"),
    pytest.mark.policy("§1 what we collect"),
]


def _refused(call: object, value: object, code: str, field: str) -> InvalidInput:
    assert callable(call)
    with pytest.raises(InvalidInput) as caught:
        call(value)
    assert caught.value.code == code
    assert caught.value.extra.get("field") == field
    if isinstance(value, str) and value.strip():
        assert value.strip() not in caught.value.message  # the value is never echoed
    return caught.value


# -- full name ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given_name", "stored"),
    [
        ("Ayesha Khan", "Ayesha Khan"),
        ("  Ayesha   Khan  ", "Ayesha Khan"),
        ("محمد علی", "محمد علی"),
        ("Zoë O'Brien-Ng", "Zoë O'Brien-Ng"),
        ("Zoe\u0308", "Zoë"),  # combining diaeresis: stored composed (NFC)
        ("می\u200cخواهم", "می\u200cخواهم"),  # zero-width non-joiner, needed in Persian script
        ("A", "A"),
        ("x" * 200, "x" * 200),
    ],
)
def test_full_name_accepts_any_script_trimmed(given_name: str, stored: str) -> None:
    assert normalize_full_name(given_name) == stored


@pytest.mark.parametrize(
    "bad",
    ["", "   ", "x" * 201, "Ayesha\x00Khan", "Ayesha\u202eKhan", "Ali\ue000"],
)
def test_full_name_refusals_say_which_field(bad: str) -> None:
    _refused(normalize_full_name, bad, "invalid_full_name", "full_name")


_NAME_CHARACTERS = st.characters(
    blacklist_categories=("Cc", "Cf", "Co", "Cs", "Zs", "Zl", "Zp"),
)


@given(words=st.lists(st.text(_NAME_CHARACTERS, min_size=1, max_size=20), min_size=1))
def test_any_unicode_name_of_1_to_200_characters_round_trips(words: list[str]) -> None:
    name = unicodedata.normalize("NFC", " ".join(words))[:200].strip()
    if not name or name != " ".join(name.split()) or unicodedata.normalize("NFC", name) != name:
        return  # truncation split a combining sequence or left a separator: not a stored form
    assert normalize_full_name(name) == name
    assert normalize_full_name(f"  {name} ") == name


@given(value=st.text(max_size=300))
def test_name_normalization_is_idempotent_or_refuses(value: str) -> None:
    try:
        name = normalize_full_name(value)
    except InvalidInput as exc:
        refused = exc
    else:
        assert 1 <= len(name) <= 200
        assert normalize_full_name(name) == name
        return
    assert refused.code == "invalid_full_name"


def test_name_words_are_case_folded_whole_words() -> None:
    assert name_words("Ayesha  KHAN khan") == ["ayesha", "khan"]


# -- email -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given_email", "stored"),
    [
        ("ayesha@example.com", "ayesha@example.com"),
        ("  Ayesha.Khan@EXAMPLE.com ", "Ayesha.Khan@example.com"),
        ("user+tag@sub.example.pk", "user+tag@sub.example.pk"),
    ],
)
def test_email_is_normalized_without_dns(given_email: str, stored: str) -> None:
    assert normalize_email(given_email) == stored


@pytest.mark.parametrize(
    "bad",
    ["", "ayesha", "ayesha@", "@example.com", "a b@example.com", "a@b@example.com",
     "Ayesha <a@example.com>", "a" * 250 + "@example.com"],
)  # fmt: skip
def test_email_refusals_say_which_field(bad: str) -> None:
    _refused(normalize_email, bad, "invalid_email", "email")


# -- phone -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given_phone", "stored"),
    [
        ("03001234567", "+923001234567"),
        ("0300-1234567", "+923001234567"),
        ("0300 1234567", "+923001234567"),
        ("+92 300 1234567", "+923001234567"),
        ("+92-321-7654321", "+923217654321"),
        ("0092 300 1234567", "+923001234567"),
        ("(0345) 1234567", "+923451234567"),
        ("+44 7911 123456", "+447911123456"),  # abroad: any valid number
        ("+1 650 253 0000", "+16502530000"),
    ],
)
def test_phone_is_stored_in_e164(given_phone: str, stored: str) -> None:
    assert normalize_phone(given_phone) == stored


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "12345",
        "0300123456",  # one digit short
        "+92 42 35761234",  # a Pakistani landline: only mobiles
        "051 1234567",
        "+92 300 1234567 ext 5",
        "0300 CALL ME",
        "+999 1234567",
        "0" * 40,
        "٠٣٠٠١٢٣٤٥٦٧",  # Arabic-Indic digits: refused rather than guessed
    ],
)
def test_phone_refusals_say_which_field(bad: str) -> None:
    _refused(normalize_phone, bad, "invalid_phone", "phone")


@given(subscriber=st.integers(min_value=0, max_value=9_999_999), operator=st.sampled_from(
    ["300", "301", "310", "321", "333", "345", "355", "364"]
))  # fmt: skip
def test_every_pakistani_mobile_round_trips_through_its_forms(
    subscriber: int, operator: str
) -> None:
    national = f"{operator}{subscriber:07d}"
    number = phonenumbers.parse(national, "PK")
    if not phonenumbers.is_valid_number(number):
        return
    stored = normalize_phone(f"0{national}")
    assert stored == f"+92{national}"
    shown = format_phone(stored)
    assert shown == f"+92 {operator} {subscriber:07d}"  # +92 3XX XXXXXXX
    assert normalize_phone(shown) == stored
    assert normalize_phone(f"0{operator}-{subscriber:07d}") == stored


# -- CNIC --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given_cnic", "stored"),
    [
        ("35202-1234567-1", "3520212345671"),
        ("3520212345671", "3520212345671"),
        (" 61101-7654321-9 ", "6110176543219"),
    ],
)
def test_cnic_is_stored_as_13_digits(given_cnic: str, stored: str) -> None:
    assert normalize_cnic(given_cnic) == stored


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "352021234567",  # 12 digits
        "35202123456712",  # 14 digits
        "35202-12345671",
        "3520-21234567-1",
        "35202 1234567 1",
        "35202-1234567-X",
        "٣٥٢٠٢١٢٣٤٥٦٧١",  # Arabic-Indic digits
        "35202—1234567—1",  # em dashes
    ],
)
def test_cnic_refusals_say_which_field(bad: str) -> None:
    _refused(normalize_cnic, bad, "invalid_cnic", "cnic")


@given(digits=st.text(alphabet="0123456789", min_size=13, max_size=13))
def test_any_13_digits_round_trip_through_both_cnic_forms(digits: str) -> None:
    assert normalize_cnic(digits) == digits
    dashed = format_cnic(digits)
    assert dashed == f"{digits[:5]}-{digits[5:12]}-{digits[12]}"
    assert normalize_cnic(dashed) == digits


# -- address -----------------------------------------------------------------------------------

LAHORE = {
    "line1": "House 12, Street 4",
    "line2": "Model Town",
    "city": "Lahore",
    "province": "Punjab",
    "postal_code": "54700",
    "country": "PK",
}


def test_pakistani_address_is_validated_and_normalized() -> None:
    address = normalize_address({**LAHORE, "province": "  punjab ", "country": "pk"})
    assert address == PostalAddress(
        line1="House 12, Street 4",
        line2="Model Town",
        city="Lahore",
        province="Punjab",
        postal_code="54700",
        country="PK",
    )
    assert "Lahore" not in repr(address)


@pytest.mark.parametrize(
    ("written", "province"),
    [
        ("KPK", "Khyber Pakhtunkhwa"),
        ("khyber pakhtunkhwa", "Khyber Pakhtunkhwa"),
        ("ICT", "Islamabad Capital Territory"),
        ("Gilgit Baltistan", "Gilgit-Baltistan"),
        ("AJK", "Azad Jammu and Kashmir"),
        ("Sindh", "Sindh"),
        ("Balochistan", "Balochistan"),
    ],
)
def test_provinces_and_territories_of_pakistan(written: str, province: str) -> None:
    assert normalize_address({**LAHORE, "province": written}).province == province
    assert province in PK_PROVINCES


def test_country_defaults_to_pakistan() -> None:
    parts = {key: value for key, value in LAHORE.items() if key != "country"}
    assert normalize_address(parts).country == "PK"


def test_abroad_province_is_free_text_and_postal_code_optional() -> None:
    address = normalize_address(
        {"line1": "221B Baker Street", "city": "London", "country": "gb", "postal_code": "nw1 6xe"}
    )
    assert (address.country, address.postal_code, address.province) == ("GB", "NW1 6XE", None)
    dubai = normalize_address({"line1": "Tower 3", "city": "Dubai", "province": "Dubai Emirate",
                               "country": "AE"})  # fmt: skip
    assert dubai.province == "Dubai Emirate"


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"line1": ""}, "invalid_address", "address.line1"),
        ({"line1": "x" * 201}, "invalid_address", "address.line1"),
        ({"line2": "y" * 201}, "invalid_address", "address.line2"),
        ({"city": "  "}, "invalid_address", "address.city"),
        ({"city": "c" * 101}, "invalid_address", "address.city"),
        ({"line1": "House\x0012"}, "invalid_address", "address.line1"),
        ({"line1": 12}, "invalid_address", "address.line1"),
        ({"province": None}, "invalid_province", "address.province"),
        ({"province": "Texas"}, "invalid_province", "address.province"),
        ({"postal_code": None}, "invalid_postal_code", "address.postal_code"),
        ({"postal_code": "5470"}, "invalid_postal_code", "address.postal_code"),
        ({"postal_code": "54A00"}, "invalid_postal_code", "address.postal_code"),
        ({"country": "ZZ"}, "invalid_country", "address.country"),
        ({"country": "PAK"}, "invalid_country", "address.country"),
        ({"country": "UK"}, "invalid_country", "address.country"),
        ({"landmark": "near the mosque"}, "unknown_field", "address"),
    ],
)
def test_address_refusals_say_which_part(change: dict[str, object], code: str, field: str) -> None:
    error = _refused(normalize_address, {**LAHORE, **change}, code, field)
    for value in change.values():
        if isinstance(value, str) and len(value.strip()) > 2:
            assert value.strip() not in error.message


@pytest.mark.parametrize("postal_code", ["SW1A 1AA!", "-12", "1234567890123", "ab_12"])
def test_abroad_postal_code_is_letters_digits_spaces_dashes(postal_code: str) -> None:
    parts = {"line1": "1 Main St", "city": "Leeds", "country": "GB", "postal_code": postal_code}
    _refused(normalize_address, parts, "invalid_postal_code", "address.postal_code")


_ADDRESS_TEXT = st.text(
    st.characters(blacklist_categories=("Cc", "Cf", "Co", "Cs", "Zs", "Zl", "Zp")),
    min_size=1,
    max_size=40,
)


@given(
    line1=_ADDRESS_TEXT,
    line2=st.none() | _ADDRESS_TEXT,
    city=_ADDRESS_TEXT,
    province=st.sampled_from(PK_PROVINCES),
    postal_code=st.text(alphabet="0123456789", min_size=5, max_size=5),
)
def test_any_valid_address_round_trips_through_its_json(
    line1: str, line2: str | None, city: str, province: str, postal_code: str
) -> None:
    parts = {
        "line1": unicodedata.normalize("NFC", line1),
        "line2": unicodedata.normalize("NFC", line2) if line2 else None,
        "city": unicodedata.normalize("NFC", city),
        "province": province,
        "postal_code": postal_code,
    }
    address = normalize_address(parts)
    assert PostalAddress.from_json(address.to_json()) == address
    assert normalize_address(address) == address


def test_an_address_as_a_dict_holds_every_field_and_only_its_fields() -> None:
    address = PostalAddress(
        line1="House 1", city="Lahore", line2="Block B", province="Punjab", postal_code="54000"
    )
    assert address.as_dict() == dataclasses.asdict(address)


def test_country_list_is_iso_3166_alpha_2() -> None:
    assert len(COUNTRY_CODES) == 249
    assert all(len(code) == 2 and code.isascii() and code.isupper() for code in COUNTRY_CODES)
    # Every region phonenumbers knows is a country, except its non-ISO ones.
    assert set(phonenumbers.SUPPORTED_REGIONS) - {"AC", "TA", "XK"} <= COUNTRY_CODES
