"""Every door shows personal data masked by default, in exactly these forms (ASVS V14.2.6)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amanat.people.masking import (
    mask_address,
    mask_cnic,
    mask_email,
    mask_full_name,
    mask_phone,
)
from amanat.people.personal_data import PersonData
from amanat.people.schemas import MaskedPersonOut, PersonOut
from amanat.people.validation import PostalAddress, normalize_phone

pytestmark = [pytest.mark.asvs("V14.2.6"), pytest.mark.policy("§4 access controls")]

ADDRESS = PostalAddress(
    line1="House 12, Street 4",
    line2="Model Town",
    city="Lahore",
    province="Punjab",
    postal_code="54700",
    country="PK",
)
PERSON = PersonData(
    id="p-1",
    account_id="a-1",
    full_name="Ayesha Khan",
    email="ayesha@example.com",
    phone="+923001234567",
    cnic="3520212345671",
    address=ADDRESS,
)


def test_the_forms_of_the_issue() -> None:
    assert mask_cnic("3520212345671") == "35202-*******-1"
    assert mask_phone("+923001234567") == "+92 3** ****567"
    assert mask_email("ayesha@example.com") == "a***@example.com"
    assert mask_full_name("Ayesha Khan") == "A. K."
    assert mask_address(ADDRESS) == "Lahore"


def test_person_masked_covers_every_field() -> None:
    assert PERSON.masked() == {
        "full_name": "A. K.",
        "email": "a***@example.com",
        "phone": "+92 3** ****567",
        "cnic": "35202-*******-1",
        "address": "Lahore",
    }
    bare = PersonData(id="p-2", account_id="a-1", full_name="Bilal", email="b@example.com")
    assert bare.masked() == {"full_name": "B.", "email": "b***@example.com"}


def test_a_person_sees_their_own_data_in_full_display_form() -> None:
    own = PersonOut.from_person(PERSON)
    assert own.phone == "+92 300 1234567"
    assert own.cnic == "35202-1234567-1"
    assert own.address is not None
    assert own.address.line1 == "House 12, Street 4"
    others = MaskedPersonOut.from_person(PERSON)
    assert others.model_dump() == {
        "full_name": "A. K.",
        "email": "a***@example.com",
        "phone": "+92 3** ****567",
        "cnic": "35202-*******-1",
        "city": "Lahore",
    }


def test_repr_shows_no_values() -> None:
    for text in (repr(PERSON), str(PERSON), repr(ADDRESS), f"{PERSON!r}"):
        for value in ("Ayesha", "ayesha@", "923001234567", "3520212345671", "Lahore", "House"):
            assert value not in text


@pytest.mark.parametrize(
    ("e164", "masked"),
    [
        ("+923451234567", "+92 3** ****567"),
        ("+447911123456", "+44 7*** ***456"),
        ("+16502530000", "+1 6**-***-*000"),
        ("not a number", "***"),
    ],
)
def test_foreign_phones_keep_country_code_first_and_last_three(e164: str, masked: str) -> None:
    assert mask_phone(e164) == masked


@given(subscriber=st.integers(min_value=0, max_value=9_999_999))
def test_pakistani_mobile_masks_show_only_operator_digit_and_last_three(subscriber: int) -> None:
    stored = normalize_phone(f"0300{subscriber:07d}")
    assert mask_phone(stored) == f"+92 3** ****{stored[-3:]}"


@given(digits=st.text(alphabet="0123456789", min_size=13, max_size=13))
def test_cnic_mask_keeps_locality_and_check_digit(digits: str) -> None:
    assert mask_cnic(digits) == f"{digits[:5]}-*******-{digits[-1]}"
    assert digits[5:12] not in mask_cnic(digits)
