"""The sign-in pages: password, second factor, sign-out, and the invitation page that sets the
first password."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import RedirectResponse, Response

from amanat.activity.context import RequestCtx, set_device_cookie
from amanat.core.errors import AmanatError
from amanat.identity import devices, invitations, signin
from amanat.identity.password_policy import MIN_LENGTH_SINGLE_FACTOR
from amanat.identity.return_to import (
    DEFAULT_RETURN,
    carry_return,
    remember_return,
    safe_return_path,
    take_return,
)
from amanat.people.forms import PersonForm, person_fields_context
from amanat.people.registry import create_person
from amanat.people.schemas import EMAIL_BOUND, FULL_NAME_BOUND
from amanat.web.auth import (
    AnySession,
    Keyring,
    MaybeSignedIn,
    clear_session_cookie,
    render_anonymous_form,
    require_anonymous_csrf,
    set_session_cookie,
)
from amanat.web.deps import CurrentSettings, DbSession, client_address
from amanat.web.flash import redirect_with
from amanat.web.problems import with_refusal_headers
from amanat.web.templating import render

router = APIRouter(include_in_schema=False)


def _page(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    return render(request, f"identity/{template}", context, status_code=status)


def _after_signin(outcome: signin.SigninOutcome, next_page: str) -> str:
    """The next step; the page asked for is kept on the session row until the last one."""
    remember_return(outcome.session, next_page)
    if outcome.needs_second_factor:
        return "/signin/second-factor"
    if outcome.needs_mfa_enrolment:
        return "/account/mfa"
    if outcome.must_change_password:
        return "/account/password"
    return take_return(outcome.session)


@router.get("/signin")
async def signin_form(
    request: Request,
    auth: MaybeSignedIn,
    next_page: Annotated[str, Query(alias="next", max_length=2048)] = "",
) -> Response:
    wanted = safe_return_path(next_page)
    if auth is not None and auth.session.stage == "active":
        return RedirectResponse(wanted or DEFAULT_RETURN, status_code=303)
    return render_anonymous_form(request, "identity/signin.html", {"next_page": wanted})


@router.post("/signin")
async def signin_submit(
    request: Request,
    db: DbSession,
    ring: Keyring,
    settings: CurrentSettings,
    login: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=1024)],
    context: RequestCtx,
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    next_page: Annotated[str, Form(alias="next", max_length=2048)] = "",
) -> Response:
    require_anonymous_csrf(request, csrf_token)
    wanted = safe_return_path(next_page)
    try:
        outcome = await signin.sign_in(
            db,
            ring,
            settings,
            login=login,
            password=password,
            client_address=client_address(request),
            context=context,
        )
    except AmanatError as exc:
        if exc.status not in (401, 429):
            raise
        # The failure is recorded by the service and must be committed: return, don't raise.
        return with_refusal_headers(
            render_anonymous_form(
                request,
                "identity/signin.html",
                {"error": exc.message, "next_page": wanted},
                exc.status,
            ),
            exc,
        )
    response = RedirectResponse(_after_signin(outcome, next_page), status_code=303)
    set_session_cookie(response, settings, outcome.token)
    set_device_cookie(response, context)
    return response


@router.get("/signin/second-factor")
async def second_factor_form(request: Request, auth: AnySession) -> Response:
    if auth.session.stage == "active":
        return RedirectResponse("/account", status_code=303)
    return _page(request, "second_factor.html", {"csrf": auth.csrf_token})


@router.post("/signin/second-factor")
async def second_factor_submit(
    request: Request,
    auth: AnySession,
    db: DbSession,
    ring: Keyring,
    settings: CurrentSettings,
    code: Annotated[str, Form(max_length=64)],
    context: RequestCtx,
) -> Response:
    pending = auth.session
    try:
        token, row = await signin.complete_second_factor(
            db,
            ring,
            settings,
            session_row=pending,
            user=auth.user,
            code=code,
            client_address=client_address(request),
            context=context,
        )
    except AmanatError as exc:
        if exc.status not in (401, 429):
            raise
        page = _page(
            request,
            "second_factor.html",
            {"csrf": auth.csrf_token, "error": exc.message},
            exc.status,
        )
        return with_refusal_headers(page, exc)
    # The page asked for came with the pending session, never from this form.
    carry_return(pending, row)
    target = "/account/password" if auth.user.must_change_password else take_return(row)
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, settings, token)
    set_device_cookie(response, context)
    return response


@router.post("/signout")
async def signout(auth: AnySession, db: DbSession, context: RequestCtx) -> Response:
    await devices.sign_out(db, auth.user, auth.session.id, context)
    response = redirect_with("/signin", "You are signed out.")
    clear_session_cookie(response)
    return response


@router.get("/invite/{token}")
async def invite_form(
    request: Request, token: str, db: DbSession, settings: CurrentSettings
) -> Response:
    user = await invitations.invite_details(db, token)
    return render_anonymous_form(
        request,
        "identity/set_password.html",
        {
            "username": user.username,
            "choose_username": invitations.must_choose_username(user),
            "needs_identity": user.person_id is None,
            "min_length": MIN_LENGTH_SINGLE_FACTOR,
            **person_fields_context(settings),
        },
    )


@router.post("/invite/{token}")
async def invite_submit(
    request: Request,
    token: str,
    db: DbSession,
    ring: Keyring,
    settings: CurrentSettings,
    password: Annotated[str, Form(max_length=1024)],
    person_fields: PersonForm,
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    full_name: Annotated[str, Form(max_length=FULL_NAME_BOUND)] = "",
    email: Annotated[str, Form(max_length=EMAIL_BOUND)] = "",
    username: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    require_anonymous_csrf(request, csrf_token)
    user = await invitations.invite_details(db, token)
    context = {
        "username": user.username,
        "choose_username": invitations.must_choose_username(user),
        "chosen_username": username,
        "needs_identity": user.person_id is None,
        "min_length": MIN_LENGTH_SINGLE_FACTOR,
    }
    try:
        async with db.begin_nested():
            if user.person_id is None:
                # The first administrator, created by the operator without personal data: they
                # give their own, with the fields the operator requires of everyone.
                person = await create_person(
                    db,
                    ring,
                    account_id=user.account_id,
                    full_name=full_name,
                    email=email,
                    phone=person_fields.phone,
                    cnic=person_fields.cnic,
                    address=person_fields.address,
                    required=settings.require_identity_fields,
                )
                user.person_id = person.id
            await invitations.accept_invite(
                db, ring, settings, token=token, password=password, username=username
            )
    except AmanatError as exc:
        if exc.status not in (409, 422):
            raise
        # Their own entries come back to them (never the password).
        typed = {"full_name": full_name, "email": email, **person_fields.typed}
        refused = {**context, **person_fields_context(settings, typed=typed, refusal=exc)}
        return render_anonymous_form(request, "identity/set_password.html", refused, exc.status)
    return render_anonymous_form(
        request, "identity/signin.html", {"notice": "Your password is set. Sign in to continue."}
    )
