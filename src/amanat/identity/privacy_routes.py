"""Purpose-bound reveal, "who looked at my data", and profile self-service over HTTP (JSON and
HTML). Routes translate HTTP to `reveals` / `self_service` calls and back, nothing more.

Personal data travels in bodies only, never in a URL (ASVS V14.2.1); a revealed value is sent
once with `Cache-Control: no-store` (V14.3.2).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from pydantic import BaseModel, Field, model_validator
from starlette.responses import Response

from amanat.core.errors import AmanatError, InvalidInput
from amanat.identity import self_service
from amanat.identity.api_tokens import ApiScope
from amanat.identity.pages import _require_anonymous_csrf
from amanat.identity.schemas import Strict
from amanat.people.forms import AddressForm
from amanat.people.profile import CHANGE_VALID_FOR
from amanat.people.reveal import (
    FIELD_LABELS,
    PURPOSE_LABELS,
    REASON_MAX,
    REASON_MIN,
    REVEALABLE_FIELDS,
    Purpose,
    RevealableField,
    RevealedValue,
)
from amanat.people.schemas import AddressIn, PersonOut
from amanat.people.validation import EMAIL_MAX, FULL_NAME_MAX, PHONE_INPUT_MAX, PK_PROVINCES
from amanat.supervision import reveals
from amanat.web.auth import (
    ANONYMOUS_CSRF_COOKIE,
    Authenticated,
    Keyring,
    SignedIn,
    new_anonymous_csrf,
    require_scope,
)
from amanat.web.deps import CurrentSettings, DbSession
from amanat.web.templating import render

router = APIRouter()
api = APIRouter(prefix="/api/v1", tags=["privacy"])
pages = APIRouter(include_in_schema=False)

NO_STORE = {"Cache-Control": "no-store"}


# --- JSON shapes ---


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


class DataAccessOut(BaseModel):
    when: datetime
    who: str
    role: str
    field: str
    purpose: str
    purpose_label: str
    reason: str | None

    @classmethod
    def of(cls, view: reveals.DataAccessView) -> DataAccessOut:
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
    def of(cls, profile: self_service.MyProfile) -> ProfileOut:
        base = PersonOut.from_person(profile.person)
        return cls(
            **base.model_dump(),
            pending=[
                PendingChangeOut(field=p.field, new_value=p.new_value, expires_at=p.expires_at)
                for p in profile.pending
            ],
        )


class ProfileIn(Strict):
    """The fields given are changed; a new email address waits for confirmation."""

    full_name: str | None = Field(default=None, min_length=1, max_length=FULL_NAME_MAX)
    address: AddressIn | None = Field(default=None, description="null removes the address.")
    email: str | None = Field(default=None, max_length=EMAIL_MAX)
    phone: str | None = Field(
        default=None,
        max_length=PHONE_INPUT_MAX,
        description="null or empty removes the number; a new number is confirmed by a texted code.",
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


# --- JSON API ---


@api.post(
    "/people/{user_id}/reveal",
    response_model=RevealOut,
    summary="Reveal one field of a user's personal data for a policy purpose (audited)",
)
async def reveal(
    user_id: str,
    body: RevealIn,
    auth: SignedIn,
    response: Response,
    db: DbSession,
    ring: Keyring,
    settings: CurrentSettings,
) -> RevealOut:
    revealed = await reveals.reveal_user_field(
        db,
        ring,
        settings,
        auth.actor,
        user_id,
        field=body.field,
        purpose=body.purpose,
        reason=body.reason,
    )
    response.headers.update(NO_STORE)
    return RevealOut.of(revealed)


@api.get(
    "/me/data-access",
    response_model=list[DataAccessOut],
    summary="Who looked at my personal data, when and why",
    dependencies=[require_scope(ApiScope.PROFILE_READ)],
)
async def my_data_access(auth: SignedIn, db: DbSession, ring: Keyring) -> list[DataAccessOut]:
    return [DataAccessOut.of(view) for view in await reveals.my_data_access(db, ring, auth.user)]


@api.get(
    "/me/profile",
    response_model=ProfileOut,
    summary="My personal data and the changes waiting for confirmation",
    dependencies=[require_scope(ApiScope.PROFILE_READ)],
)
async def get_my_profile(auth: SignedIn, db: DbSession, ring: Keyring) -> ProfileOut:
    return ProfileOut.of(await self_service.my_profile(db, ring, auth.user))


@api.put(
    "/me/profile",
    response_model=ProfileOut,
    summary="Change my personal data (a new email address is confirmed from that address)",
)
async def update_my_profile(
    body: ProfileIn, auth: SignedIn, db: DbSession, ring: Keyring, settings: CurrentSettings
) -> ProfileOut:
    profile = await self_service.update_my_profile(
        db,
        ring,
        settings,
        user=auth.user,
        changes=body.changes(),
        current_password=body.current_password,
    )
    return ProfileOut.of(profile)


@api.post(
    "/me/profile/confirm",
    response_model=ProfileOut,
    summary="Confirm a pending change with the code or link token sent to the new address",
)
async def confirm_my_change(
    body: ConfirmIn, auth: SignedIn, db: DbSession, ring: Keyring, settings: CurrentSettings
) -> ProfileOut:
    profile = await self_service.confirm_my_change(
        db, ring, settings, user=auth.user, code=body.code, token=body.token
    )
    return ProfileOut.of(profile)


# --- HTML pages ---


def _page(
    request: Request,
    template: str,
    context: dict[str, Any],
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    response = render(request, f"identity/{template}", context, status_code=status)
    response.headers.update(headers or {})
    return response


def _refusal(exc: AmanatError) -> AmanatError:
    """A refusal a form shows beside itself; any other error goes on to the error handler."""
    if exc.status >= 500:
        raise exc
    return exc


@pages.get("/account/privacy")
async def privacy_page(request: Request, auth: SignedIn, db: DbSession, ring: Keyring) -> Response:
    return _page(
        request,
        "privacy.html",
        {
            "auth": auth,
            "accesses": await reveals.my_data_access(db, ring, auth.user),
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
    notice: str | None = None,
    status: int = 200,
) -> Response:
    profile = await self_service.my_profile(db, ring, auth.user)
    return _page(
        request,
        "profile.html",
        {
            "auth": auth,
            "person": profile.person,
            "pending": profile.pending,
            "provinces": PK_PROVINCES,
            "field_labels": FIELD_LABELS,
            "minutes": int(CHANGE_VALID_FOR.total_seconds() // 60),
            "error": error,
            "notice": notice,
        },
        status,
    )


@pages.get("/account/profile")
async def profile_page(request: Request, auth: SignedIn, db: DbSession, ring: Keyring) -> Response:
    return await _profile_page(request, auth, db, ring)


@pages.post("/account/profile")
async def profile_details_submit(
    request: Request,
    auth: SignedIn,
    db: DbSession,
    ring: Keyring,
    settings: CurrentSettings,
    full_name: Annotated[str, Form(max_length=FULL_NAME_MAX)],
    address: AddressForm,
) -> Response:
    changes = {"full_name": full_name, "address": address.address}
    try:
        await self_service.update_my_profile(db, ring, settings, user=auth.user, changes=changes)
    except AmanatError as exc:
        refused = _refusal(exc)
        return await _profile_page(
            request, auth, db, ring, error=refused.message, status=refused.status
        )
    return await _profile_page(request, auth, db, ring, notice="Your details are saved.")


@pages.post("/account/profile/contact")
async def profile_contact_submit(
    request: Request,
    auth: SignedIn,
    db: DbSession,
    ring: Keyring,
    settings: CurrentSettings,
    email: Annotated[str, Form(max_length=EMAIL_MAX)],
    current_password: Annotated[str, Form(max_length=1024)] = "",
    phone: Annotated[str, Form(max_length=PHONE_INPUT_MAX)] = "",
) -> Response:
    try:
        profile = await self_service.update_my_profile(
            db,
            ring,
            settings,
            user=auth.user,
            changes={"email": email, "phone": phone},
            current_password=current_password,
        )
    except AmanatError as exc:
        refused = _refusal(exc)
        return await _profile_page(
            request, auth, db, ring, error=refused.message, status=refused.status
        )
    waiting = {change.field for change in profile.pending}
    sent = [
        *(["a link and a code to your new email address"] if "email" in waiting else []),
        *(["a code by text message to your new phone number"] if "phone" in waiting else []),
    ]
    notice = "Your contact details are saved."
    if sent:
        notice = f"We sent {' and '.join(sent)}. A change takes effect once you confirm it."
    return await _profile_page(request, auth, db, ring, notice=notice)


@pages.post("/account/profile/confirm")
async def profile_confirm_submit(
    request: Request,
    auth: SignedIn,
    db: DbSession,
    ring: Keyring,
    settings: CurrentSettings,
    code: Annotated[str, Form(max_length=16)],
) -> Response:
    try:
        await self_service.confirm_my_change(db, ring, settings, user=auth.user, code=code)
    except AmanatError as exc:
        # A wrong code still counts (the service marked it to be kept): render, don't raise.
        refused = _refusal(exc)
        return await _profile_page(
            request, auth, db, ring, error=refused.message, status=refused.status
        )
    return await _profile_page(
        request, auth, db, ring, notice="Your new contact details are saved."
    )


def _anonymous_page(
    request: Request, template: str, context: dict[str, Any], status: int = 200
) -> Response:
    token = request.cookies.get(ANONYMOUS_CSRF_COOKIE) or new_anonymous_csrf()
    response = _page(request, template, {**context, "csrf": token}, status)
    response.set_cookie(
        ANONYMOUS_CSRF_COOKIE, token, path="/", secure=True, httponly=True, samesite="strict"
    )
    return response


@pages.get("/confirm-contact/{token}")
async def confirm_link_page(request: Request, token: str, db: DbSession) -> Response:
    # Showing the page changes nothing (a mail scanner may fetch it); the button confirms.
    user = await self_service.user_for_change_link(db, token)
    return _anonymous_page(request, "confirm_contact.html", {"username": user.username})


@pages.post("/confirm-contact/{token}")
async def confirm_link_submit(
    request: Request,
    token: str,
    db: DbSession,
    ring: Keyring,
    settings: CurrentSettings,
    csrf_token: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    _require_anonymous_csrf(request, csrf_token)
    user = await self_service.confirm_change_by_link(db, ring, settings, token=token)
    return _anonymous_page(
        request, "confirm_contact.html", {"username": user.username, "done": True}
    )


def _reveal_context(auth: Authenticated, user_id: str) -> dict[str, Any]:
    allowed = reveals.purposes_for(auth.actor)
    return {
        "auth": auth,
        "user_id": user_id,
        "fields": [(name, FIELD_LABELS[name]) for name in REVEALABLE_FIELDS],
        "purposes": [(purpose.value, PURPOSE_LABELS[purpose]) for purpose in allowed],
        "reason_min": REASON_MIN,
        "reason_max": REASON_MAX,
    }


@pages.get("/admin/reveal/{user_id}")
async def reveal_form(request: Request, user_id: str, auth: SignedIn, db: DbSession) -> Response:
    await reveals.check_reveal_subject(db, auth.actor, user_id)
    return _page(request, "reveal.html", _reveal_context(auth, user_id), headers=NO_STORE)


@pages.post("/admin/reveal/{user_id}")
async def reveal_submit(
    request: Request,
    user_id: str,
    auth: SignedIn,
    db: DbSession,
    ring: Keyring,
    settings: CurrentSettings,
    field: Annotated[str, Form(max_length=16)],
    purpose: Annotated[str, Form(max_length=32)],
    reason: Annotated[str, Form(max_length=REASON_MAX * 4)],
) -> Response:
    context = _reveal_context(auth, user_id)
    try:
        try:
            chosen = Purpose(purpose)
        except ValueError:
            raise InvalidInput(
                "Choose a purpose from the privacy policy.", code="unknown_purpose"
            ) from None
        revealed = await reveals.reveal_user_field(
            db, ring, settings, auth.actor, user_id, field=field, purpose=chosen, reason=reason
        )
    except AmanatError as exc:
        # A refusal is audited and kept (the service marked it so): render, don't raise.
        refused = _refusal(exc)
        return _page(
            request,
            "reveal.html",
            {**context, "error": refused.message},
            refused.status,
            headers=NO_STORE,
        )
    return _page(
        request,
        "reveal.html",
        {
            **context,
            "revealed": revealed,
            "field_label": FIELD_LABELS[revealed.field],
            "purpose_label": PURPOSE_LABELS[revealed.purpose],
        },
        headers=NO_STORE,
    )


router.include_router(api)
router.include_router(pages)
