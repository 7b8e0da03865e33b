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
from amanat.people.schemas import CNIC_INPUT_MAX, AddressIn
from amanat.people.validation import FULL_NAME_MAX, PHONE_INPUT_MAX
from amanat.supervision.corrections import CorrectionReason


class PersonalDataCorrectionIn(Strict):
    """The fields given are corrected (null clears phone, CNIC or address); email is not here:
    it changes only by the person's own confirmed request."""

    full_name: str | None = Field(default=None, min_length=1, max_length=FULL_NAME_MAX)
    phone: str | None = Field(default=None, max_length=PHONE_INPUT_MAX)
    cnic: str | None = Field(
        default=None, max_length=CNIC_INPUT_MAX, description="#####-#######-# or 13 digits."
    )
    address: AddressIn | None = None
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
