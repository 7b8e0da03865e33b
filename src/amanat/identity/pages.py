"""Identity HTML pages: sign-in, second factor, invitations, my account, user supervision.

Forms work without JavaScript. Pages call the same services as the JSON API.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import RedirectResponse, Response

from amanat.access.actors import Actor
from amanat.access.roles import ACCOUNT_ROLES, PLATFORM_ROLES, Permission, Role
from amanat.activity.context import RequestCtx, set_device_cookie
from amanat.activity.service import EVENT_KINDS, OUTCOMES
from amanat.core.crypto import MasterKeyring
from amanat.core.errors import AmanatError, Forbidden, InvalidInput, TooManyRequests
from amanat.identity import accounts, devices, signin, users
from amanat.identity.password_policy import MIN_LENGTH_SINGLE_FACTOR
from amanat.identity.schemas import Strict
from amanat.identity.sessions import list_sessions
from amanat.people.forms import PersonForm, person_fields_context
from amanat.people.service import create_person, read_person
from amanat.supervision import directory
from amanat.web.auth import (
    ANONYMOUS_CSRF_COOKIE,
    AnySession,
    EnrollingUser,
    Keyring,
    MaybeSignedIn,
    PlatformAdmin,
    SignedIn,
    UserSupervisor,
    anonymous_csrf_ok,
    clear_session_cookie,
    new_anonymous_csrf,
    set_session_cookie,
)
from amanat.web.deps import CurrentSettings, DbSession
from amanat.web.templating import add_template_dir, render

add_template_dir(__import__("pathlib").Path(__file__).parent / "templates")

router = APIRouter(include_in_schema=False)

STRENGTH_LABELS = ["very weak", "weak", "fair", "strong", "very strong"]


def _page(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    return render(request, f"identity/{template}", context, status_code=status)


def _anonymous_form(
    request: Request, template: str, context: dict[str, Any], status: int = 200
) -> Response:
    """A pre-sign-in form with a double-submit CSRF token (cookie and hidden field)."""
    token = request.cookies.get(ANONYMOUS_CSRF_COOKIE) or new_anonymous_csrf()
    response = _page(request, template, {**context, "csrf": token}, status)
    response.set_cookie(
        ANONYMOUS_CSRF_COOKIE, token, path="/", secure=True, httponly=True, samesite="strict"
    )
    return response


def _require_anonymous_csrf(request: Request, supplied: str) -> None:
    if not anonymous_csrf_ok(request, supplied):
        raise Forbidden("The form expired. Reload the page and try again.", code="csrf_failed")


def _address(request: Request) -> str | None:
    address = request.scope.get("state", {}).get("client_address")
    return str(address) if address is not None else None


def _after_signin(outcome: signin.SigninOutcome) -> str:
    if outcome.needs_second_factor:
        return "/signin/second-factor"
    if outcome.needs_mfa_enrolment:
        return "/account/mfa"
    if outcome.must_change_password:
        return "/account/password"
    return "/account"


@router.get("/signin")
async def signin_form(request: Request, auth: MaybeSignedIn) -> Response:
    if auth is not None and auth.session.stage == "active":
        return RedirectResponse("/account", status_code=303)
    return _anonymous_form(request, "signin.html", {})


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
) -> Response:
    _require_anonymous_csrf(request, csrf_token)
    try:
        outcome = await signin.sign_in(
            db,
            ring,
            settings,
            login=login,
            password=password,
            client_address=_address(request),
            context=context,
        )
    except AmanatError as exc:
        if exc.status not in (401, 429):
            raise
        # The failure is recorded by the service and must be committed: return, don't raise.
        return _anonymous_form(request, "signin.html", {"error": exc.message}, exc.status)
    response = RedirectResponse(_after_signin(outcome), status_code=303)
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
    try:
        token, _row = await signin.complete_second_factor(
            db,
            ring,
            settings,
            session_row=auth.session,
            user=auth.user,
            code=code,
            client_address=_address(request),
            context=context,
        )
    except AmanatError as exc:
        if exc.status not in (401, 429):
            raise
        return _page(
            request,
            "second_factor.html",
            {"csrf": auth.csrf_token, "error": exc.message},
            exc.status,
        )
    target = "/account/password" if auth.user.must_change_password else "/account"
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, settings, token)
    set_device_cookie(response, context)
    return response


@router.post("/signout")
async def signout(auth: AnySession, db: DbSession, context: RequestCtx) -> Response:
    await devices.sign_out(db, auth.user, auth.session.id, context)
    response = RedirectResponse("/signin", status_code=303)
    clear_session_cookie(response)
    return response


@router.get("/invite/{token}")
async def invite_form(
    request: Request, token: str, db: DbSession, settings: CurrentSettings
) -> Response:
    user = await signin.invite_details(db, token)
    return _anonymous_form(
        request,
        "set_password.html",
        {
            "username": user.username,
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
    full_name: Annotated[str, Form(max_length=200)] = "",
    email: Annotated[str, Form(max_length=254)] = "",
) -> Response:
    _require_anonymous_csrf(request, csrf_token)
    user = await signin.invite_details(db, token)
    context = {
        "username": user.username,
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
            await signin.accept_invite(db, ring, settings, token=token, password=password)
    except AmanatError as exc:
        if exc.status not in (409, 422):
            raise
        # Their own entries come back to them (never the password).
        typed = {"full_name": full_name, "email": email, **person_fields.typed}
        refused = {**context, **person_fields_context(settings, typed=typed, refusal=exc)}
        return _anonymous_form(request, "set_password.html", refused, exc.status)
    return _anonymous_form(
        request, "signin.html", {"notice": "Your password is set. Sign in to continue."}
    )


@router.get("/account")
async def account_page(request: Request, auth: SignedIn, db: DbSession, ring: Keyring) -> Response:
    person = await read_person(db, ring, auth.user.person_id) if auth.user.person_id else None
    strength = auth.user.password_strength
    return _page(
        request,
        "account.html",
        {
            "auth": auth,
            "person": person,
            "sessions": await list_sessions(db, auth.user.id),
            "strength_label": STRENGTH_LABELS[strength] if strength is not None else "unknown",
        },
    )


@router.post("/account/sessions/{session_id}/end")
async def end_one_session(
    session_id: str, auth: SignedIn, db: DbSession, context: RequestCtx
) -> Response:
    await devices.end_my_session(db, auth.user, session_id, context)
    return RedirectResponse("/account/devices", status_code=303)


@router.post("/account/sessions/end-others")
async def end_other_sessions(auth: SignedIn, db: DbSession, context: RequestCtx) -> Response:
    await devices.end_my_other_sessions(db, auth.user, auth.session.id, context)
    return RedirectResponse("/account/devices", status_code=303)


@router.get("/account/password")
async def password_form(request: Request, auth: EnrollingUser) -> Response:
    return _page(request, "change_password.html", {"auth": auth})


@router.post("/account/password")
async def password_submit(
    request: Request,
    auth: EnrollingUser,
    db: DbSession,
    ring: Keyring,
    settings: CurrentSettings,
    current_password: Annotated[str, Form(max_length=1024)],
    new_password: Annotated[str, Form(max_length=1024)],
    context: RequestCtx,
    end_other_sessions: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    try:
        # No savepoint: a refusal writes only what must stay (a wrong current password counts
        # toward the user's sign-in lock), and the page's answer commits it.
        await signin.change_password(
            db,
            ring,
            settings,
            user=auth.user,
            current_session_id=auth.session.id,
            current_password=current_password,
            new_password=new_password,
            end_other_sessions=end_other_sessions == "yes",
            context=context,
        )
    except (InvalidInput, TooManyRequests) as exc:
        return _page(
            request, "change_password.html", {"auth": auth, "error": exc.message}, exc.status
        )
    return RedirectResponse("/account", status_code=303)


@router.get("/account/mfa")
async def mfa_form(request: Request, auth: EnrollingUser, db: DbSession, ring: Keyring) -> Response:
    if auth.user.mfa_enabled_at is not None:
        return RedirectResponse("/account", status_code=303)
    enrolment = await signin.pending_totp_enrolment(ring, auth.user)
    if enrolment is None:
        enrolment = await signin.start_totp_enrolment(db, ring, user=auth.user)
    return _page(request, "mfa_setup.html", {"auth": auth, "enrolment": enrolment})


@router.post("/account/mfa")
async def mfa_submit(
    request: Request,
    auth: EnrollingUser,
    db: DbSession,
    ring: Keyring,
    code: Annotated[str, Form(max_length=16)],
    context: RequestCtx,
) -> Response:
    try:
        codes = await signin.confirm_totp_enrolment(
            db, ring, user=auth.user, code=code, session_id=auth.session.id, context=context
        )
    except InvalidInput as exc:
        enrolment = await signin.pending_totp_enrolment(ring, auth.user)
        return _page(
            request,
            "mfa_setup.html",
            {"auth": auth, "enrolment": enrolment, "error": exc.message},
            422,
        )
    auth.needs_mfa_enrolment = False
    return _page(request, "mfa_setup.html", {"auth": auth, "codes": codes})


def _assignable_roles(auth: UserSupervisor) -> list[str]:
    if auth.actor.is_platform_staff:
        return [role.value for role in Role if role in PLATFORM_ROLES]
    if auth.actor.can(Permission.GRANT_ADMIN):
        return [role.value for role in (Role.MEMBER, Role.ADMIN, Role.OWNER)]
    return [role.value for role in Role if role in ACCOUNT_ROLES and role == Role.MEMBER]


def _listed_roles(auth: UserSupervisor) -> list[str]:
    """The roles a user of the actor's own account can hold: the choices of the role filter."""
    kind = PLATFORM_ROLES if auth.actor.is_platform_staff else ACCOUNT_ROLES
    return [role.value for role in Role if role in kind]


class UserFilters(Strict):
    status: str | None = None
    username: str | None = None
    role: str | None = None


def _users_context(
    auth: UserSupervisor, rows: list[users.UserSummary], filters: UserFilters
) -> dict[str, Any]:
    return {
        "auth": auth,
        "users": rows,
        "roles": _assignable_roles(auth),
        "listed_roles": _listed_roles(auth),
        "filters": filters,
    }


@router.get("/admin/users")
async def users_page(
    request: Request,
    auth: UserSupervisor,
    db: DbSession,
    ring: Keyring,
    settings: CurrentSettings,
    status: str = "",
    username: str = "",
    role: str = "",
) -> Response:
    status_filter = status if status in ("invited", "active", "suspended") else None
    role_filter = Role(role) if role in _listed_roles(auth) else None
    rows = await users.list_users(
        db,
        ring,
        auth.actor,
        status=status_filter,
        username_prefix=username[:64] or None,
        role=role_filter,
    )
    filters = UserFilters(
        status=status_filter,
        username=username[:64] or None,
        role=role_filter.value if role_filter else None,
    )
    return _page(
        request,
        "admin_users.html",
        {**_users_context(auth, rows, filters), **person_fields_context(settings)},
    )


@router.post("/admin/users")
async def invite_submit_page(
    request: Request,
    auth: UserSupervisor,
    db: DbSession,
    ring: Keyring,
    settings: CurrentSettings,
    username: Annotated[str, Form(max_length=64)],
    full_name: Annotated[str, Form(max_length=200)],
    email: Annotated[str, Form(max_length=254)],
    person: PersonForm,
    role: Annotated[Role, Form()] = Role.MEMBER,
) -> Response:
    try:
        async with db.begin_nested():
            user, _token = await users.invite_user(
                db,
                ring,
                settings,
                auth.actor,
                account_id=auth.user.account_id,
                username=username,
                full_name=full_name,
                email=email,
                role=role,
                phone=person.phone,
                cnic=person.cnic,
                address=person.address,
            )
    except AmanatError as exc:
        if exc.status >= 500:
            raise
        rows = await users.list_users(db, ring, auth.actor)
        typed = {"username": username, "full_name": full_name, "email": email, "role": role.value}
        return _page(
            request,
            "admin_users.html",
            {
                **_users_context(auth, rows, UserFilters()),
                **person_fields_context(settings, typed={**typed, **person.typed}, refusal=exc),
            },
            exc.status,
        )
    return RedirectResponse(f"/admin/users/{user.id}", status_code=303)


UserAction = Callable[[AsyncSession, MasterKeyring, Actor, str], Awaitable[object]]

# Every action the user page's buttons post to `/admin/users/{id}/{action}`, and nothing else.
USER_ACTIONS: dict[str, UserAction] = {
    "suspend": lambda db, ring, actor, user_id: users.suspend_user(db, actor, user_id),
    "reactivate": lambda db, ring, actor, user_id: users.reactivate_user(db, actor, user_id),
    "revoke-sessions": lambda db, ring, actor, user_id: users.revoke_user_sessions(
        db, actor, user_id
    ),
    "force-password-change": lambda db, ring, actor, user_id: users.force_password_change(
        db, actor, user_id
    ),
    "reset-mfa": lambda db, ring, actor, user_id: users.reset_user_mfa(db, actor, user_id),
    "unlock": users.unlock_user,
    "remove": lambda db, ring, actor, user_id: users.remove_user(db, actor, user_id),
}


@router.get("/admin/users/{user_id}")
async def user_page(
    request: Request,
    user_id: str,
    auth: UserSupervisor,
    db: DbSession,
    ring: Keyring,
    kind: str = "",
    outcome: str = "",
) -> Response:
    user = await users.get_user_for(db, auth.actor, user_id)
    summary = await directory.masked_user(db, ring, user)
    actions = [
        ("reactivate", "Reactivate", "")
        if user.status == "suspended"
        else ("suspend", "Suspend", "danger"),
        ("revoke-sessions", "End all sessions", "secondary"),
        ("force-password-change", "Force password change", "secondary"),
        ("reset-mfa", "Reset second factor", "secondary"),
        ("unlock", "Lift sign-in lock", "secondary"),
        ("remove", "Remove user", "danger"),
    ]
    return _page(
        request,
        "admin_user.html",
        {
            "auth": auth,
            "user": summary,
            "actions": actions,
            "session_count": len(await list_sessions(db, user.id)),
            **await _user_activity(db, auth, user.id, kind=kind, outcome=outcome),
        },
    )


async def _user_activity(
    db: DbSession, auth: UserSupervisor, user_id: str, *, kind: str, outcome: str
) -> dict[str, Any]:
    """The user's sessions, devices and security history for the admin's page (activity)."""
    kind_filter = kind if kind in EVENT_KINDS else None
    outcome_filter = outcome if outcome in OUTCOMES else None
    return {
        "activity_sessions": await devices.sessions_of(db, auth.actor, user_id),
        "activity_devices": await devices.devices_of(db, auth.actor, user_id),
        "activity_events": await devices.sign_ins_of(
            db,
            auth.actor,
            user_id,
            kinds=[kind_filter] if kind_filter else None,
            outcome=outcome_filter,
            limit=50,
        ),
        "activity_filters": {"kind": kind_filter, "outcome": outcome_filter},
        "event_kinds": EVENT_KINDS,
        "outcomes": OUTCOMES,
    }


@router.post("/admin/users/{user_id}/{action}")
async def user_action(
    user_id: str, action: str, auth: UserSupervisor, db: DbSession, ring: Keyring
) -> Response:
    perform = USER_ACTIONS.get(action)
    if perform is None:
        raise InvalidInput("Unknown action.", code="unknown_action")
    await perform(db, ring, auth.actor, user_id)
    if action == "remove":
        return RedirectResponse("/admin/users", status_code=303)
    return RedirectResponse(f"/admin/users/{user_id}", status_code=303)


def _accounts_context(auth: PlatformAdmin) -> dict[str, Any]:
    return {
        "auth": auth,
        "suspension_reasons": [reason.value for reason in accounts.SuspensionReason],
        "reactivation_reasons": [reason.value for reason in accounts.ReactivationReason],
    }


@router.get("/admin/accounts")
async def accounts_page(
    request: Request, auth: PlatformAdmin, db: DbSession, settings: CurrentSettings
) -> Response:
    rows = await accounts.list_customer_accounts(db, auth.actor)
    return _page(
        request,
        "admin_accounts.html",
        {**_accounts_context(auth), **person_fields_context(settings), "accounts": rows},
    )


@router.post("/admin/accounts/{account_id}/suspend")
async def suspend_account_page(
    account_id: str,
    auth: PlatformAdmin,
    db: DbSession,
    reason: Annotated[str, Form(max_length=32)],
) -> Response:
    await accounts.suspend_customer_account(db, auth.actor, account_id, reason=reason)
    return RedirectResponse("/admin/accounts", status_code=303)


@router.post("/admin/accounts/{account_id}/reactivate")
async def reactivate_account_page(
    account_id: str,
    auth: PlatformAdmin,
    db: DbSession,
    reason: Annotated[str, Form(max_length=32)],
) -> Response:
    await accounts.reactivate_customer_account(db, auth.actor, account_id, reason=reason)
    return RedirectResponse("/admin/accounts", status_code=303)


@router.post("/admin/accounts")
async def open_account_page(
    request: Request,
    auth: PlatformAdmin,
    db: DbSession,
    ring: Keyring,
    settings: CurrentSettings,
    name: Annotated[str, Form(max_length=200)],
    username: Annotated[str, Form(max_length=64)],
    full_name: Annotated[str, Form(max_length=200)],
    email: Annotated[str, Form(max_length=254)],
    person: PersonForm,
) -> Response:
    """Open a customer account and invite its first owner, all or nothing."""
    try:
        async with db.begin_nested():
            account = await accounts.create_customer_account(db, auth.actor, name=name)
            await users.invite_user(
                db,
                ring,
                settings,
                auth.actor,
                account_id=account.id,
                username=username,
                full_name=full_name,
                email=email,
                role=Role.OWNER,
                phone=person.phone,
                cnic=person.cnic,
                address=person.address,
            )
    except AmanatError as exc:
        if exc.status >= 500:
            raise
        rows = await accounts.list_customer_accounts(db, auth.actor)
        typed = {"name": name, "username": username, "full_name": full_name, "email": email}
        return _page(
            request,
            "admin_accounts.html",
            {
                **_accounts_context(auth),
                **person_fields_context(settings, typed={**typed, **person.typed}, refusal=exc),
                "accounts": rows,
            },
            exc.status,
        )
    return RedirectResponse("/admin/accounts", status_code=303)
