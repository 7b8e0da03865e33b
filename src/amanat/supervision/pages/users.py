"""The admin's pages for the users of their own account: the masked list with the pending
invitations and the invitation form, and one user's page (their state, personal data masked,
sessions, devices and sign-in history) with the buttons they may use (`user_actions`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from amanat.access.roles import Role
from amanat.activity.service import EVENT_KINDS, OUTCOMES
from amanat.core.clock import utcnow
from amanat.core.errors import AmanatError
from amanat.core.schemas import Strict
from amanat.identity import invitation_upkeep, invitations, user_rules, users
from amanat.identity.accounts import get_account_for
from amanat.identity.sessions import list_sessions
from amanat.people.forms import PersonForm, person_fields_context
from amanat.people.schemas import EMAIL_BOUND, FULL_NAME_BOUND
from amanat.supervision import activity as supervised
from amanat.supervision import directory
from amanat.supervision.pages.user_actions import USER_ACTIONS
from amanat.web.auth import (
    Keyring,
    UserSupervisor,
)
from amanat.web.deps import CurrentSettings, DbSession
from amanat.web.flash import redirect_with
from amanat.web.templating import render

router = APIRouter(include_in_schema=False)

STATUS_WORDS = {"invited": "Invited", "active": "Active", "suspended": "Suspended"}

# The order the user page shows its buttons in; which of them a viewer sees is the rule's.
BUTTONS = (
    "reactivate",
    "suspend",
    "resend-invitation",
    "cancel-invitation",
    "revoke-sessions",
    "force-password-change",
    "reset-mfa",
    "unlock",
    "remove",
)


def _page(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    return render(
        request,
        f"supervision/{template}",
        {"role_in_words": user_rules.role_in_words, "status_words": STATUS_WORDS, **context},
        status_code=status,
    )


class UserFilters(Strict):
    status: str | None = None
    username: str | None = None
    role: str | None = None


async def _users_context(
    db: DbSession,
    ring: Keyring,
    auth: UserSupervisor,
    rows: list[users.UserSummary],
    filters: UserFilters,
) -> dict[str, Any]:
    account = await get_account_for(db, auth.actor, auth.user.account_id)
    pending = await users.list_users(db, ring, auth.actor, status="invited")
    return {
        "auth": auth,
        "users": rows,
        "roles": [role.value for role in user_rules.roles_to_invite(auth.actor, account)],
        "listed_roles": [role.value for role in user_rules.listed_roles(auth.actor)],
        "filters": filters,
        "pending": pending,
        "may_resend": {
            row.id
            for row in pending
            if user_rules.may_resend_invitation(
                auth.actor, account, status=row.status, role=row.role
            )
        },
        "may_cancel": {
            row.id
            for row in pending
            if user_rules.may_cancel_invitation(
                auth.actor, user_id=row.id, status=row.status, role=row.role
            )
        },
        "expiries": await invitation_upkeep.invitation_expiries(db, auth.actor),
        "now": utcnow(),
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
    listed = user_rules.listed_roles(auth.actor)
    role_filter = next((listed_role for listed_role in listed if listed_role.value == role), None)
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
        {
            **await _users_context(db, ring, auth, rows, filters),
            **person_fields_context(settings),
        },
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
                **await _users_context(db, ring, auth, rows, UserFilters()),
                **person_fields_context(settings, typed={**typed, **person.typed}, refusal=exc),
            },
            exc.status,
        )
    summary = await users.summarize(db, ring, user)
    return redirect_with(f"/admin/users/{user.id}", f"Invitation sent to {summary.masked_email}")


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
    account = await get_account_for(db, auth.actor, user.account_id)
    allowed = user_rules.permitted_actions(auth.actor, account, user)
    actions = [
        (
            name,
            USER_ACTIONS[name].label,
            USER_ACTIONS[name].style,
            USER_ACTIONS[name].confirmed_first,
        )
        for name in BUTTONS
        if name in allowed
    ]
    expiry = (await invitation_upkeep.invitation_expiries(db, auth.actor)).get(user.id)
    return _page(
        request,
        "admin_user.html",
        {
            "auth": auth,
            "user": summary,
            "actions": actions,
            "roles_to_give": [
                role.value for role in await user_rules.roles_to_give(db, auth.actor, user)
            ],
            "invitation_expires": expiry,
            "now": utcnow(),
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
