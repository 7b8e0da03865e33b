"""Password reset and sign-up over HTTP: JSON routes under /api/v1 and the HTML pages.

Routes translate HTTP to `recovery` and `signup` calls and back. The answers that must not
tell whether an account exists (reset request, sign-up) are one fixed body each.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from amanat.activity.context import RequestCtx
from amanat.core.errors import AmanatError, InvalidInput
from amanat.identity import recovery, signup
from amanat.identity.pages import _address, _anonymous_form, _require_anonymous_csrf
from amanat.identity.password_policy import MIN_LENGTH_SINGLE_FACTOR
from amanat.identity.schemas import Strict
from amanat.people.forms import PersonForm, person_fields_context
from amanat.people.schemas import IdentityFieldsIn
from amanat.web.auth import Keyring
from amanat.web.deps import CurrentSettings, DbSession

RESET_REQUESTED = (
    "If an active account matches, we have sent it an email with a link to choose a new "
    "password. The link works once, for a short time."
)
SIGNUP_ACCEPTED = (
    "Check your email: we have sent a link to confirm your address. The account is ready "
    "once the address is confirmed."
)


async def signup_switch(settings: CurrentSettings) -> None:
    """Every sign-up route answers 404 when the operator has switched sign-up off."""
    signup.require_signup_enabled(settings)


router = APIRouter()
api = APIRouter(prefix="/api/v1", tags=["identity"])
signup_api = APIRouter(prefix="/api/v1", tags=["identity"], dependencies=[Depends(signup_switch)])
pages = APIRouter(include_in_schema=False)
signup_pages = APIRouter(include_in_schema=False, dependencies=[Depends(signup_switch)])


class PasswordResetIn(Strict):
    login: str = Field(min_length=1, max_length=254)


class PasswordResetCompleteIn(Strict):
    token: str = Field(min_length=16, max_length=128)
    new_password: str = Field(min_length=1, max_length=1024)


class SignupIn(IdentityFieldsIn):
    account_name: str = Field(min_length=1, max_length=200)
    username: str = Field(min_length=3, max_length=64)
    full_name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=1024)


class VerifyIn(Strict):
    token: str = Field(min_length=16, max_length=128)


class AcceptedOut(BaseModel):
    status: str
    detail: str


# --- JSON API ---


@api.post(
    "/password-reset",
    response_model=AcceptedOut,
    status_code=202,
    summary="Ask for a password reset link (same answer whether or not the account exists)",
)
async def request_reset(
    body: PasswordResetIn,
    request: Request,
    db: DbSession,
    ring: Keyring,
    settings: CurrentSettings,
) -> AcceptedOut:
    await recovery.request_password_reset(
        db, ring, settings, login=body.login, client_address=_address(request)
    )
    return AcceptedOut(status="accepted", detail=RESET_REQUESTED)


@api.post(
    "/password-reset/complete",
    response_model=AcceptedOut,
    summary="Choose a new password through a reset link; all sessions end",
)
async def complete_reset(
    body: PasswordResetCompleteIn,
    db: DbSession,
    ring: Keyring,
    settings: CurrentSettings,
    context: RequestCtx,
) -> AcceptedOut:
    await recovery.complete_password_reset(
        db, ring, settings, token=body.token, new_password=body.new_password, context=context
    )
    return AcceptedOut(status="password_changed", detail="Your password is changed. Sign in.")


@signup_api.post(
    "/signup",
    response_model=AcceptedOut,
    status_code=202,
    summary="Create a customer account and become its owner (confirm the email to use it)",
)
async def create_signup(
    body: SignupIn,
    request: Request,
    db: DbSession,
    ring: Keyring,
    settings: CurrentSettings,
) -> AcceptedOut:
    await signup.sign_up(
        db,
        ring,
        settings,
        account_name=body.account_name,
        username=body.username,
        full_name=body.full_name,
        email=body.email,
        password=body.password,
        client_address=_address(request),
        phone=body.phone,
        cnic=body.cnic,
        address=body.address_parts(),
    )
    return AcceptedOut(status="accepted", detail=SIGNUP_ACCEPTED)


@signup_api.post(
    "/signup/verify",
    response_model=AcceptedOut,
    summary="Confirm the email address of a new account through its link",
)
async def verify_signup(body: VerifyIn, db: DbSession) -> AcceptedOut:
    await signup.verify_email(db, token=body.token)
    return AcceptedOut(status="verified", detail="Your account is ready. Sign in.")


# --- HTML pages ---


def _signin_page(request: Request, settings: CurrentSettings, notice: str) -> Response:
    context = {"notice": notice, "signup_enabled": settings.signup_enabled}
    return _anonymous_form(request, "signin.html", context)


@pages.get("/reset")
async def reset_request_form(request: Request) -> Response:
    return _anonymous_form(request, "reset_request.html", {})


@pages.post("/reset")
async def reset_request_submit(
    request: Request,
    db: DbSession,
    ring: Keyring,
    settings: CurrentSettings,
    login: Annotated[str, Form(max_length=254)],
    csrf_token: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    _require_anonymous_csrf(request, csrf_token)
    try:
        await recovery.request_password_reset(
            db, ring, settings, login=login, client_address=_address(request)
        )
    except AmanatError as exc:
        if exc.status != 429:
            raise
        return _anonymous_form(request, "reset_request.html", {"error": exc.message}, 429)
    return _anonymous_form(request, "reset_request.html", {"sent": True, "notice": RESET_REQUESTED})


def _reset_form_context(has_mfa: bool, settings: CurrentSettings) -> dict[str, Any]:
    minimum = settings.min_password_length_with_mfa if has_mfa else MIN_LENGTH_SINGLE_FACTOR
    return {"min_length": minimum, "has_mfa": has_mfa}


@pages.get("/reset/{token}")
async def reset_form(
    request: Request, token: str, db: DbSession, settings: CurrentSettings
) -> Response:
    user = await recovery.reset_details(db, token)
    context = _reset_form_context(user.mfa_enabled_at is not None, settings)
    return _anonymous_form(request, "reset_form.html", {**context, "username": user.username})


@pages.post("/reset/{token}")
async def reset_submit(
    request: Request,
    token: str,
    db: DbSession,
    ring: Keyring,
    settings: CurrentSettings,
    new_password: Annotated[str, Form(max_length=1024)],
    where: RequestCtx,
    csrf_token: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    _require_anonymous_csrf(request, csrf_token)
    user = await recovery.reset_details(db, token)
    context = {
        **_reset_form_context(user.mfa_enabled_at is not None, settings),
        "username": user.username,
    }
    try:
        async with db.begin_nested():
            await recovery.complete_password_reset(
                db, ring, settings, token=token, new_password=new_password, context=where
            )
    except InvalidInput as exc:
        return _anonymous_form(request, "reset_form.html", {**context, "error": exc.message}, 422)
    return _signin_page(request, settings, "Your password is changed. Sign in with it.")


@signup_pages.get("/signup")
async def signup_form(request: Request, settings: CurrentSettings) -> Response:
    context = {"min_length": MIN_LENGTH_SINGLE_FACTOR, **person_fields_context(settings)}
    return _anonymous_form(request, "signup.html", context)


@signup_pages.post("/signup")
async def signup_submit(
    request: Request,
    db: DbSession,
    ring: Keyring,
    settings: CurrentSettings,
    account_name: Annotated[str, Form(max_length=200)],
    username: Annotated[str, Form(max_length=64)],
    full_name: Annotated[str, Form(max_length=200)],
    email: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=1024)],
    person: PersonForm,
    csrf_token: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    _require_anonymous_csrf(request, csrf_token)
    try:
        await signup.sign_up(
            db,
            ring,
            settings,
            account_name=account_name,
            username=username,
            full_name=full_name,
            email=email,
            password=password,
            client_address=_address(request),
            phone=person.phone,
            cnic=person.cnic,
            address=person.address,
        )
    except AmanatError as exc:
        if exc.status not in (409, 422, 429):
            raise
        # The person's own entries come back (never the password); the attempt stays counted.
        typed = {
            "account_name": account_name,
            "username": username,
            "full_name": full_name,
            "email": email,
            **person.typed,
        }
        context = {
            "min_length": MIN_LENGTH_SINGLE_FACTOR,
            **person_fields_context(settings, typed=typed, refusal=exc),
        }
        return _anonymous_form(request, "signup.html", context, exc.status)
    return _anonymous_form(request, "signup_sent.html", {"notice": SIGNUP_ACCEPTED})


@signup_pages.get("/verify/{token}")
async def verify_form(request: Request, token: str, db: DbSession) -> Response:
    # Showing the page changes nothing (a mail scanner may fetch it); the button confirms.
    user = await signup.verification_details(db, token)
    return _anonymous_form(request, "verify_email.html", {"username": user.username})


@signup_pages.post("/verify/{token}")
async def verify_submit(
    request: Request,
    token: str,
    db: DbSession,
    csrf_token: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    _require_anonymous_csrf(request, csrf_token)
    user = await signup.verify_email(db, token=token)
    return _anonymous_form(request, "verified.html", {"username": user.username})


router.include_router(api)
router.include_router(signup_api)
router.include_router(pages)
router.include_router(signup_pages)
