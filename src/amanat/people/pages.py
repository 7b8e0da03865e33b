"""A person's own pages: their profile (a change of email or phone waits for confirmation from the
new address), the confirmation link, and who looked at their data."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import Response

from amanat.core.errors import AmanatError
from amanat.identity.holders import (
    account_holder,
    link_holder_of_person,
    organisation_name,
    reauthenticator,
    usernames_of,
)
from amanat.people import data_access, self_service
from amanat.people.forms import AddressForm
from amanat.people.profile import CHANGE_VALID_FOR
from amanat.people.reveal import (
    FIELD_LABELS,
    PURPOSE_LABELS,
)
from amanat.people.schemas import EMAIL_BOUND, FULL_NAME_BOUND, PHONE_BOUND
from amanat.people.validation import PK_PROVINCES
from amanat.web.auth import (
    Authenticated,
    Keyring,
    SignedIn,
    render_anonymous_form,
    require_anonymous_csrf,
)
from amanat.web.deps import CurrentSettings, DbSession
from amanat.web.flash import redirect_with
from amanat.web.problems import refusal_for_form, with_refusal_headers
from amanat.web.templating import add_template_dir, render

add_template_dir(Path(__file__).parent / "templates")

router = APIRouter(include_in_schema=False)


def _page(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    return render(request, f"people/{template}", context, status_code=status)


def _typed(value: str) -> str | None:
    """A form field as the service takes it: a blank field is None (no value)."""
    return value if value.strip() else None


@router.get("/account/privacy")
async def privacy_page(request: Request, auth: SignedIn, db: DbSession, ring: Keyring) -> Response:
    return _page(
        request,
        "privacy.html",
        {
            "auth": auth,
            "accesses": await data_access.my_data_access(
                db, ring, auth.user.person_id, partial(usernames_of, db)
            ),
            "purposes": PURPOSE_LABELS,
        },
    )


async def _profile_page(
    request: Request,
    auth: Authenticated,
    db: DbSession,
    ring: Keyring,
    *,
    error: str | None = None,
    status: int = 200,
    show_cnic: bool = False,
) -> Response:
    profile = await self_service.my_profile(db, ring, account_holder(auth.user))
    response = _page(
        request,
        "profile.html",
        {
            "auth": auth,
            "person": profile.person,
            # Masked unless the person asks to see it in full: their own data, so not recorded
            # as a reveal (docs/personal-data.md), but not on the screen by default either.
            "cnic_masked": profile.person.masked().get("cnic"),
            "show_cnic": show_cnic,
            "organisation": await organisation_name(db, auth.user),
            "pending": profile.pending,
            "provinces": PK_PROVINCES,
            "field_labels": FIELD_LABELS,
            "minutes": int(CHANGE_VALID_FOR.total_seconds() // 60),
            "error": error,
        },
        status,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


async def _refused(
    request: Request, auth: Authenticated, db: DbSession, ring: Keyring, exc: AmanatError
) -> Response:
    """The profile again with the refusal (status 4xx): a refused form repeats nothing."""
    refused = refusal_for_form(exc)
    page = await _profile_page(
        request, auth, db, ring, error=refused.message, status=refused.status
    )
    return with_refusal_headers(page, refused)


PROFILE = "/account/profile"


@router.get("/account/profile")
async def profile_page(
    request: Request,
    auth: SignedIn,
    db: DbSession,
    ring: Keyring,
    show: Annotated[str, Query(max_length=16)] = "",
) -> Response:
    return await _profile_page(request, auth, db, ring, show_cnic=show == "cnic")


@router.post("/account/profile")
async def profile_details_submit(
    request: Request,
    auth: SignedIn,
    db: DbSession,
    ring: Keyring,
    settings: CurrentSettings,
    full_name: Annotated[str, Form(max_length=FULL_NAME_BOUND)],
    address: AddressForm,
) -> Response:
    # The form shows every current value: a blank name is a missing one (refused as required),
    # and an address whose fields are all blank is removed.
    changes = {"full_name": _typed(full_name), "address": address.address}
    try:
        await self_service.update_my_profile(
            db,
            ring,
            settings,
            holder=account_holder(auth.user),
            changes=changes,
            reauthenticate=reauthenticator(db, ring, settings, auth.user),
        )
    except AmanatError as exc:
        return await _refused(request, auth, db, ring, exc)
    return redirect_with(PROFILE, "Your name and address are saved.")


@router.post("/account/profile/contact")
async def profile_contact_submit(
    request: Request,
    auth: SignedIn,
    db: DbSession,
    ring: Keyring,
    settings: CurrentSettings,
    email: Annotated[str, Form(max_length=EMAIL_BOUND)],
    current_password: Annotated[str, Form(max_length=1024)] = "",
    phone: Annotated[str, Form(max_length=PHONE_BOUND)] = "",
) -> Response:
    # The form shows the current email and phone: a blank email is a missing one (refused as
    # required), a blank phone removes the number (which needs the password).
    try:
        profile = await self_service.update_my_profile(
            db,
            ring,
            settings,
            holder=account_holder(auth.user),
            changes={"email": _typed(email), "phone": _typed(phone)},
            reauthenticate=reauthenticator(db, ring, settings, auth.user),
            current_password=current_password,
        )
    except AmanatError as exc:
        return await _refused(request, auth, db, ring, exc)
    waiting = {change.field for change in profile.pending}
    sent = [
        *(["a link and a code to your new email address"] if "email" in waiting else []),
        *(["a code by text message to your new phone number"] if "phone" in waiting else []),
    ]
    notice = "Your contact details are saved."
    if sent:
        notice = f"We sent {' and '.join(sent)}. A change takes effect once you confirm it."
    return redirect_with(PROFILE, notice)


@router.post("/account/profile/confirm")
async def profile_confirm_submit(
    request: Request,
    auth: SignedIn,
    db: DbSession,
    ring: Keyring,
    settings: CurrentSettings,
    code: Annotated[str, Form(max_length=16)],
) -> Response:
    try:
        await self_service.confirm_my_change(
            db, ring, settings, holder=account_holder(auth.user), code=code
        )
    except AmanatError as exc:
        # A wrong code still counts (the service marked it to be kept): render, don't raise.
        return await _refused(request, auth, db, ring, exc)
    return redirect_with(PROFILE, "Your new contact details are saved.")


@router.get("/confirm-contact/{token}")
async def confirm_link_page(request: Request, token: str, db: DbSession) -> Response:
    # Showing the page changes nothing (a mail scanner may fetch it); the button confirms.
    holder = await self_service.holder_for_change_link(
        db, token, partial(link_holder_of_person, db)
    )
    return render_anonymous_form(
        request, "people/confirm_contact.html", {"username": holder.username}
    )


@router.post("/confirm-contact/{token}")
async def confirm_link_submit(
    request: Request,
    token: str,
    db: DbSession,
    ring: Keyring,
    settings: CurrentSettings,
    csrf_token: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    require_anonymous_csrf(request, csrf_token)
    await self_service.confirm_change_by_link(
        db, ring, settings, token=token, holder_of=partial(link_holder_of_person, db)
    )
    # The link works once: a reload of the page it led to repeats nothing.
    return redirect_with(
        "/signin", "Your new email address is confirmed: sign in with it from now on."
    )
