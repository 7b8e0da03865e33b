"""The admin's pages for the users of their own account: the masked list with the invitation
form, one user's page (their state, personal data masked, sessions, devices and sign-in
history) and its buttons."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import RedirectResponse, Response

from amanat.access.actors import Actor
from amanat.access.roles import ACCOUNT_ROLES, PLATFORM_ROLES, Permission, Role
from amanat.activity.service import EVENT_KINDS, OUTCOMES
from amanat.core.crypto import MasterKeyring
from amanat.core.errors import AmanatError, InvalidInput
from amanat.core.schemas import Strict
from amanat.identity import invitations, user_management, users
from amanat.identity.sessions import list_sessions
from amanat.people.forms import PersonForm, person_fields_context
from amanat.people.schemas import EMAIL_BOUND, FULL_NAME_BOUND
from amanat.supervision import activity as supervised
from amanat.supervision import directory
from amanat.web.auth import (
    Keyring,
    UserSupervisor,
)
from amanat.web.deps import CurrentSettings, DbSession
from amanat.web.templating import render

router = APIRouter(include_in_schema=False)


def _page(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    return render(request, f"supervision/{template}", context, status_code=status)


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
    full_name: Annotated[str, Form(max_length=FULL_NAME_BOUND)],
    email: Annotated[str, Form(max_length=EMAIL_BOUND)],
    person: PersonForm,
    role: Annotated[Role, Form()] = Role.MEMBER,
) -> Response:
    try:
        async with db.begin_nested():
            user, _token = await invitations.invite_user(
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
    "suspend": user_management.suspend_user,
    "reactivate": lambda db, ring, actor, user_id: user_management.reactivate_user(
        db, actor, user_id
    ),
    "revoke-sessions": lambda db, ring, actor, user_id: user_management.revoke_user_sessions(
        db, actor, user_id
    ),
    "force-password-change": user_management.force_password_change,
    "reset-mfa": user_management.reset_user_mfa,
    "unlock": user_management.unlock_user,
    "remove": lambda db, ring, actor, user_id: user_management.remove_user(db, actor, user_id),
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
        "activity_sessions": await supervised.sessions_of(db, auth.actor, user_id),
        "activity_devices": await supervised.devices_of(db, auth.actor, user_id),
        "activity_events": await supervised.sign_ins_of(
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
