"""Password reset and sign-up over JSON. Both answer the same whether or not an account
matches, so nobody learns who has one."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from amanat.activity.context import RequestCtx
from amanat.identity import recovery, signup
from amanat.identity.recovery import RESET_REQUESTED
from amanat.identity.schemas import (
    AcceptedOut,
    PasswordResetCompleteIn,
    PasswordResetIn,
    SignupIn,
    VerifyIn,
)
from amanat.identity.signup import SIGNUP_ACCEPTED
from amanat.web.auth import Keyring
from amanat.web.deps import CurrentSettings, DbSession, client_address


async def signup_switch(settings: CurrentSettings) -> None:
    """Every sign-up route answers 404 when the operator has switched sign-up off."""
    signup.require_signup_enabled(settings)


router = APIRouter(prefix="/api/v1", tags=["identity"])
signup_api = APIRouter(prefix="/api/v1", tags=["identity"], dependencies=[Depends(signup_switch)])


@router.post(
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
        db, ring, settings, login=body.login, client_address=client_address(request)
    )
    return AcceptedOut(status="accepted", detail=RESET_REQUESTED)


@router.post(
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
        client_address=client_address(request),
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
