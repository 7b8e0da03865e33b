"""The phone, CNIC and postal address fields of the HTML forms that create or correct a person
(an invitation, a new customer account's first owner, sign-up, an admin's correction): read the
same way on every form, with the partial template `identity/person_fields.html` to show them.

A blank field is a field not given, as an omitted one is in the API; the form bounds raw text
only generously (as the API does), and the rules, lengths included, are the people service's,
applied after trimming (with the operator's required fields). A refusal names its field, so the form
shows it beside that field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Form

from amanat.core.errors import AmanatError
from amanat.core.settings import Settings
from amanat.people.schemas import (
    ADDRESS_LINE_BOUND,
    CITY_BOUND,
    CNIC_BOUND,
    COUNTRY_BOUND,
    PHONE_BOUND,
    POSTAL_CODE_BOUND,
    REGION_BOUND,
)
from amanat.people.validation import PK_PROVINCES, given_address
from amanat.web.templating import environment

# The address fields offer the provinces on every form that shows them.
environment.globals["pk_provinces"] = PK_PROVINCES


@dataclass(frozen=True, repr=False)
class AddressFormFields:
    """The form's address fields: the address given (None when every part but the country is
    blank) and each part as typed."""

    address: dict[str, str] | None
    typed: dict[str, str]

    def __repr__(self) -> str:
        return f"AddressFormFields(given={self.address is not None!r})"


async def address_form_fields(
    line1: Annotated[str, Form(max_length=ADDRESS_LINE_BOUND)] = "",
    line2: Annotated[str, Form(max_length=ADDRESS_LINE_BOUND)] = "",
    city: Annotated[str, Form(max_length=CITY_BOUND)] = "",
    province: Annotated[str, Form(max_length=REGION_BOUND)] = "",
    postal_code: Annotated[str, Form(max_length=POSTAL_CODE_BOUND)] = "",
    country: Annotated[str, Form(max_length=COUNTRY_BOUND)] = "",
) -> AddressFormFields:
    """The address fields of a submitted form (a route's dependency: `AddressForm`)."""
    typed = {
        "line1": line1,
        "line2": line2,
        "city": city,
        "province": province,
        "postal_code": postal_code,
        "country": country,
    }
    return AddressFormFields(address=given_address(typed), typed=typed)


AddressForm = Annotated[AddressFormFields, Depends(address_form_fields)]


@dataclass(frozen=True, repr=False)
class PersonFormFields:
    """What the form's phone, CNIC and address fields hold; ``typed`` is every field as typed,
    to fill the form in again for whoever typed it (and nobody else)."""

    phone: str | None
    cnic: str | None
    address: dict[str, str] | None
    typed: dict[str, str]

    def given(self) -> dict[str, object]:
        """The fields given, by the service's names."""
        fields = {"phone": self.phone, "cnic": self.cnic, "address": self.address}
        return {name: value for name, value in fields.items() if value is not None}

    def __repr__(self) -> str:
        return f"PersonFormFields(given={sorted(self.given())!r})"


def _given(value: str) -> str | None:
    return value if value.strip() else None


async def person_form_fields(
    address: AddressForm,
    phone: Annotated[str, Form(max_length=PHONE_BOUND)] = "",
    cnic: Annotated[str, Form(max_length=CNIC_BOUND)] = "",
) -> PersonFormFields:
    """The phone, CNIC and address fields of a submitted form (a route's dependency:
    `PersonForm`)."""
    return PersonFormFields(
        phone=_given(phone),
        cnic=_given(cnic),
        address=address.address,
        typed={"phone": phone, "cnic": cnic, **address.typed},
    )


PersonForm = Annotated[PersonFormFields, Depends(person_form_fields)]


def field_errors(refusal: AmanatError) -> dict[str, str]:
    """The refusal's message under the name of the field it names (`phone`, `address.city`),
    for the form to show beside that field; a refusal naming no field is under ""."""
    field = refusal.extra.get("field")
    return {field if isinstance(field, str) else "": refusal.message}


def person_fields_context(
    settings: Settings,
    *,
    typed: dict[str, str] | None = None,
    refusal: AmanatError | None = None,
) -> dict[str, Any]:
    """What `identity/person_fields.html` needs: the fields the operator requires, what was
    typed and the refusal by field. The page's own line says only that nothing was saved when
    the refusal is shown beside a field."""
    errors = field_errors(refusal) if refusal is not None else {}
    context: dict[str, Any] = {
        "required_fields": list(settings.require_identity_fields),
        "values": typed or {},
        "errors": errors,
    }
    if refusal is not None:
        context["error"] = (
            refusal.message
            if "" in errors
            else "Nothing was saved: correct the field marked below and send the form again."
        )
    return context
