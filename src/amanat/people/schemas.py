"""JSON shapes of personal data. Inputs forbid unknown fields: we collect what policy §1 lists
and nothing else (data minimization, ASVS V15.3.3). Types are checked here, and raw text is
bounded only generously (`input_bound`: four times the field's limit) against abuse; every
field's own rule (lengths included) is the service's, applied after trimming, so every door
gets the same answer and the same error code.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from amanat.core.schemas import Strict
from amanat.people.data_access import DataAccessView
from amanat.people.personal_data import PersonData
from amanat.people.self_service import MyProfile
from amanat.people.validation import (
    ADDRESS_LINE_MAX,
    CITY_MAX,
    CNIC_INPUT_MAX,
    EMAIL_MAX,
    FULL_NAME_MAX,
    PHONE_INPUT_MAX,
    POSTAL_CODE_MAX,
    REGION_MAX,
    input_bound,
)

# Raw input bounds (never the fields' rules, which the service applies after trimming).
FULL_NAME_BOUND = input_bound(FULL_NAME_MAX)
EMAIL_BOUND = input_bound(EMAIL_MAX)
PHONE_BOUND = input_bound(PHONE_INPUT_MAX)
CNIC_BOUND = input_bound(CNIC_INPUT_MAX)
ADDRESS_LINE_BOUND = input_bound(ADDRESS_LINE_MAX)
CITY_BOUND = input_bound(CITY_MAX)
REGION_BOUND = input_bound(REGION_MAX)
POSTAL_CODE_BOUND = input_bound(POSTAL_CODE_MAX)
COUNTRY_BOUND = input_bound(2)

EMPTY_IS_REFUSED = (
    'An empty value ("" or blank) is refused (`empty_value`): leave the field out to keep it.'
)


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=1024)


class AddressIn(_Input):
    line1: str = Field(
        max_length=ADDRESS_LINE_BOUND, description="Required; at most 200 characters."
    )
    line2: str | None = Field(
        default=None, max_length=ADDRESS_LINE_BOUND, description="At most 200 characters."
    )
    city: str = Field(max_length=CITY_BOUND, description="Required; at most 100 characters.")
    province: str | None = Field(
        default=None,
        max_length=REGION_BOUND,
        description="In Pakistan one of the provinces or territories; abroad free text.",
    )
    postal_code: str | None = Field(
        default=None, max_length=POSTAL_CODE_BOUND, description="5 digits in Pakistan."
    )
    country: str = Field(
        default="PK", max_length=COUNTRY_BOUND, description="ISO 3166-1 alpha-2 code."
    )


class IdentityFieldsIn(_Input):
    """Phone, CNIC and postal address of a new person: optional unless the operator requires
    them (`AMANAT_REQUIRE_IDENTITY_FIELDS`: `phone_required`, `cnic_required`,
    `address_required`)."""

    phone: str | None = Field(
        default=None,
        max_length=PHONE_BOUND,
        description="Pakistani mobile (+92 3XX XXXXXXX, 03XX XXXXXXX) or an international number.",
    )
    cnic: str | None = Field(
        default=None, max_length=CNIC_BOUND, description="#####-#######-# or 13 digits."
    )
    address: AddressIn | None = None

    def address_parts(self) -> dict[str, object] | None:
        """The address as the service takes it."""
        return self.address.model_dump() if self.address is not None else None


class AddressOut(BaseModel):
    line1: str
    line2: str | None
    city: str
    province: str | None
    postal_code: str | None
    country: str


class PersonOut(BaseModel):
    """A person's own data, in full and in display form (a person always sees their own)."""

    full_name: str
    email: str
    phone: str | None
    cnic: str | None
    address: AddressOut | None

    @classmethod
    def from_person(cls, person: PersonData) -> PersonOut:
        address = person.address
        return cls(
            full_name=person.full_name,
            email=person.email,
            phone=person.phone_display,
            cnic=person.cnic_display,
            address=AddressOut(**address.as_dict()) if address is not None else None,
        )


class MaskedPersonOut(BaseModel):
    """What anyone else sees: initials, masked email/phone/CNIC, the city of the address."""

    full_name: str
    email: str
    phone: str | None
    cnic: str | None
    city: str | None

    @classmethod
    def from_person(cls, person: PersonData) -> MaskedPersonOut:
        masked = person.masked()
        return cls(
            full_name=masked["full_name"],
            email=masked["email"],
            phone=masked.get("phone"),
            cnic=masked.get("cnic"),
            city=masked.get("address"),
        )


class PersonSearchIn(_Input):
    """Exactly one exact value to look for."""

    email: str | None = Field(default=None, max_length=EMAIL_BOUND)
    phone: str | None = Field(default=None, max_length=PHONE_BOUND)
    cnic: str | None = Field(default=None, max_length=CNIC_BOUND)
    name: str | None = Field(default=None, max_length=FULL_NAME_BOUND)

    @model_validator(mode="after")
    def _exactly_one(self) -> PersonSearchIn:
        given = [value for value in (self.email, self.phone, self.cnic, self.name) if value]
        if len(given) != 1:
            raise ValueError("give exactly one of email, phone, cnic or name")
        return self

    def criterion(self) -> str:
        """The name of the one field given (for the audit record: never the value)."""
        return next(key for key in ("email", "phone", "cnic", "name") if getattr(self, key))


class DataAccessOut(BaseModel):
    when: datetime
    who: str
    role: str
    field: str
    purpose: str
    purpose_label: str
    reason: str | None

    @classmethod
    def of(cls, view: DataAccessView) -> DataAccessOut:
        return cls(
            when=view.at,
            who=view.who,
            role=view.role,
            field=view.field,
            purpose=view.purpose,
            purpose_label=view.purpose_label,
            reason=view.reason,
        )


class PendingChangeOut(BaseModel):
    field: str
    new_value: str
    expires_at: datetime


class ProfileOut(PersonOut):
    pending: list[PendingChangeOut]

    @classmethod
    def of(cls, profile: MyProfile) -> ProfileOut:
        base = PersonOut.from_person(profile.person)
        return cls(
            **base.model_dump(),
            pending=[
                PendingChangeOut(field=p.field, new_value=p.new_value, expires_at=p.expires_at)
                for p in profile.pending
            ],
        )


class ProfileIn(Strict):
    """The fields given are changed; a field left out is kept; a new email address waits for
    confirmation."""

    full_name: str | None = Field(
        default=None, max_length=FULL_NAME_BOUND, description=EMPTY_IS_REFUSED
    )
    address: AddressIn | None = Field(default=None, description="null removes the address.")
    email: str | None = Field(default=None, max_length=EMAIL_BOUND, description=EMPTY_IS_REFUSED)
    phone: str | None = Field(
        default=None,
        max_length=PHONE_BOUND,
        description="null removes the number (with current_password); a new number is confirmed "
        "by a texted code. " + EMPTY_IS_REFUSED,
    )
    current_password: str | None = Field(
        default=None, max_length=1024, description="Required to change email or phone."
    )

    def changes(self) -> dict[str, object]:
        """The fields the caller sent (an explicit null included), without the password."""
        return self.model_dump(exclude_unset=True, exclude={"current_password"})


class ConfirmIn(Strict):
    code: str | None = Field(default=None, min_length=6, max_length=16)
    token: str | None = Field(default=None, min_length=16, max_length=128)

    @model_validator(mode="after")
    def _exactly_one(self) -> ConfirmIn:
        if (self.code is None) == (self.token is None):
            raise ValueError("give either the code or the token")
        return self
