"""JSON shapes of the admin's doors to their users' personal data: corrections and reveals."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from amanat.core.schemas import Strict
from amanat.identity.schemas import UserOut
from amanat.people.reveal import (
    REASON_MAX,
    REASON_MIN,
    Purpose,
    RevealableField,
    RevealedValue,
)
from amanat.people.schemas import (
    CNIC_BOUND,
    EMPTY_IS_REFUSED,
    FULL_NAME_BOUND,
    PHONE_BOUND,
    AddressIn,
)
from amanat.supervision.corrections import CorrectionReason


class PersonalDataCorrectionIn(Strict):
    """The fields given are corrected and a field left out is kept; null removes phone, CNIC or
    address (audited, naming the field); an empty value is refused. Email is not here: it
    changes only by the person's own confirmed request."""

    full_name: str | None = Field(
        default=None, max_length=FULL_NAME_BOUND, description=EMPTY_IS_REFUSED
    )
    phone: str | None = Field(
        default=None,
        max_length=PHONE_BOUND,
        description="null removes the number. " + EMPTY_IS_REFUSED,
    )
    cnic: str | None = Field(
        default=None,
        max_length=CNIC_BOUND,
        description="#####-#######-# or 13 digits; null removes it. " + EMPTY_IS_REFUSED,
    )
    address: AddressIn | None = Field(default=None, description="null removes the address.")
    reason: CorrectionReason | None = Field(default=None, description="Why, as a code.")

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True, exclude={"reason"})


class PersonalDataCorrectionOut(BaseModel):
    changed: list[str] = Field(description="The fields whose value changed (no values).")
    user: UserOut


class RevealIn(Strict):
    field: RevealableField
    purpose: Purpose = Field(description="A purpose from the privacy policy's §2.")
    reason: str = Field(
        min_length=REASON_MIN,
        max_length=REASON_MAX,
        description="Why you need the value, in plain text; the person will read it.",
    )


class RevealOut(BaseModel):
    access_id: str
    field: str
    purpose: Purpose
    value: str | None
    revealed_at: datetime

    @classmethod
    def of(cls, revealed: RevealedValue) -> RevealOut:
        return cls(
            access_id=revealed.access_id,
            field=revealed.field,
            purpose=revealed.purpose,
            value=revealed.value,
            revealed_at=revealed.at,
        )
