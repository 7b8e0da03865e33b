"""Password reset and sign-up pages: each form answers the same whether or not an account
matches."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import Response

from amanat.activity.context import RequestCtx
from amanat.core.errors import AmanatError, InvalidInput
from amanat.identity import recovery, signup
from amanat.identity.api.recovery import signup_switch
from amanat.identity.password_policy import MIN_LENGTH_SINGLE_FACTOR
from amanat.identity.recovery import RESET_REQUESTED
from amanat.identity.signup import SIGNUP_ACCEPTED
from amanat.people.forms import PersonForm, person_fields_context
from amanat.people.schemas import EMAIL_BOUND, FULL_NAME_BOUND
from amanat.web.auth import Keyring, render_anonymous_form, require_anonymous_csrf
from amanat.web.deps import CurrentSettings, DbSession, client_address
from amanat.web.flash import redirect_with
from amanat.web.problems import with_refusal_headers

router = APIRouter(include_in_schema=False)
signup_pages = APIRouter(include_in_schema=False, dependencies=[Depends(signup_switch)])


@router.get("/reset")
async def reset_request_form(request: Request, sent: bool = False) -> Response:
    # `?sent=1` is where the request's redirect leads: the same words whoever asked.
    return render_anonymous_form(request, "identity/reset_request.html", {"sent": sent})


@router.post("/reset")
async def reset_request_submit(
    request: Request,
    db: DbSession,
    ring: Keyring,
    settings: CurrentSettings,
    login: Annotated[str, Form(max_length=254)],
    csrf_token: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    require_anonymous_csrf(request, csrf_token)
    try:
        await recovery.request_password_reset(
            db, ring, settings, login=login, client_address=client_address(request)
        )
    except AmanatError as exc:
        if exc.status != 429:
            raise
        return with_refusal_headers(
            render_anonymous_form(
                request, "identity/reset_request.html", {"error": exc.message}, 429
            ),
            exc,
        )
    return redirect_with("/reset?sent=1", RESET_REQUESTED)


def _reset_form_context(has_mfa: bool, settings: CurrentSettings) -> dict[str, Any]:
    minimum = settings.min_password_length_with_mfa if has_mfa else MIN_LENGTH_SINGLE_FACTOR
    return {"min_length": minimum, "has_mfa": has_mfa}


@router.get("/reset/{token}")
async def reset_form(
    request: Request, token: str, db: DbSession, settings: CurrentSettings
) -> Response:
    user = await recovery.reset_details(db, token)
    context = _reset_form_context(user.mfa_enabled_at is not None, settings)
    return render_anonymous_form(
        request, "identity/reset_form.html", {**context, "username": user.username}
    )


@router.post("/reset/{token}")
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
    require_anonymous_csrf(request, csrf_token)
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
        return render_anonymous_form(
            request, "identity/reset_form.html", {**context, "error": exc.message}, 422
        )
    return redirect_with("/signin", "Your password is changed. Sign in with it.")


@signup_pages.get("/signup")
async def signup_form(request: Request, settings: CurrentSettings) -> Response:
    context = {"min_length": MIN_LENGTH_SINGLE_FACTOR, **person_fields_context(settings)}
    return render_anonymous_form(request, "identity/signup.html", context)


@signup_pages.post("/signup")
async def signup_submit(
    request: Request,
    db: DbSession,
    ring: Keyring,
    settings: CurrentSettings,
    account_name: Annotated[str, Form(max_length=200)],
    username: Annotated[str, Form(max_length=64)],
    full_name: Annotated[str, Form(max_length=FULL_NAME_BOUND)],
    email: Annotated[str, Form(max_length=EMAIL_BOUND)],
    password: Annotated[str, Form(max_length=1024)],
    person: PersonForm,
    csrf_token: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    require_anonymous_csrf(request, csrf_token)
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
            client_address=client_address(request),
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
        page = render_anonymous_form(request, "identity/signup.html", context, exc.status)
        return with_refusal_headers(page, exc)
    return redirect_with("/signup/sent", SIGNUP_ACCEPTED)


@signup_pages.get("/signup/sent")
async def signup_sent(request: Request) -> Response:
    return render_anonymous_form(request, "identity/signup_sent.html", {})


@signup_pages.get("/verify/{token}")
async def verify_form(request: Request, token: str, db: DbSession) -> Response:
    # Showing the page changes nothing (a mail scanner may fetch it); the button confirms.
    user = await signup.verification_details(db, token)
    return render_anonymous_form(request, "identity/verify_email.html", {"username": user.username})


@signup_pages.post("/verify/{token}")
async def verify_submit(
    request: Request,
    token: str,
    db: DbSession,
    csrf_token: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    require_anonymous_csrf(request, csrf_token)
    user = await signup.verify_email(db, token=token)
    return redirect_with(
        "/signin",
        f"The email address of {user.username} is confirmed. Sign in to continue; you will be "
        "asked to set up a second factor.",
    )


router.include_router(signup_pages)
