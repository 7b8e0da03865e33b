"""The buttons of the admin's user page: `/admin/users/{id}/{action}`.

A disruptive action (suspend, end all sessions, force a password change, reset the second
factor, remove, withdraw an invitation) shows a confirmation page on GET saying what will
happen, and acts only on the POST that page sends (`confirmed=yes`). Every POST answers with a
redirect whose page says what was done. Which buttons a viewer sees is decided by
`identity.user_rules`, the rule the services enforce.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from amanat.access.roles import Role
from amanat.core.errors import Forbidden, InvalidInput, NotFound
from amanat.identity import invitation_upkeep, user_management, users
from amanat.identity.accounts import get_account_for
from amanat.identity.user_rules import permitted_actions, role_in_words
from amanat.web.auth import Keyring, UserSupervisor
from amanat.web.confirm import confirmation_page, require_confirmed
from amanat.web.deps import CurrentSettings, DbSession
from amanat.web.flash import redirect_with

if TYPE_CHECKING:  # a domain object identity's services hand us; its table is not ours
    from sqlalchemy.ext.asyncio import AsyncSession

    from amanat.access.actors import Actor
    from amanat.core.crypto import MasterKeyring
    from amanat.core.settings import Settings
    from amanat.identity.models import User

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Step:
    """What one action needs to run: the request's services and whom it acts on."""

    db: AsyncSession
    ring: MasterKeyring
    settings: Settings
    actor: Actor
    user: User
    role: str | None


Perform = Callable[[Step], Awaitable[str]]


@dataclass(frozen=True)
class UserAction:
    """A user-page button: its words, and, for a disruptive one, what its confirmation page
    says will happen. `perform` acts and returns the sentence saying what was done."""

    label: str
    style: str
    perform: Perform
    consequences: Sequence[str] = ()
    back_to_list: bool = False

    @property
    def confirmed_first(self) -> bool:
        return bool(self.consequences)


async def _suspend(step: Step) -> str:
    await user_management.suspend_user(step.db, step.ring, step.actor, step.user.id)
    return f"{step.user.username} is suspended and signed out everywhere; they were mailed."


async def _reactivate(step: Step) -> str:
    await user_management.reactivate_user(step.db, step.actor, step.user.id)
    return f"{step.user.username} is active again."


async def _revoke_sessions(step: Step) -> str:
    ended = await user_management.revoke_user_sessions(step.db, step.actor, step.user.id)
    return f"Ended {ended} session{'' if ended == 1 else 's'} of {step.user.username}."


async def _force_password_change(step: Step) -> str:
    await user_management.force_password_change(step.db, step.ring, step.actor, step.user.id)
    return (
        f"{step.user.username} must choose a new password at their next sign-in; they were mailed."
    )


async def _reset_mfa(step: Step) -> str:
    await user_management.reset_user_mfa(step.db, step.ring, step.actor, step.user.id)
    return f"Second factor of {step.user.username} reset; they were mailed."


async def _unlock(step: Step) -> str:
    await user_management.unlock_user(step.db, step.ring, step.actor, step.user.id)
    return f"Sign-in lock lifted for {step.user.username}."


async def _remove(step: Step) -> str:
    username = step.user.username
    await user_management.remove_user(step.db, step.actor, step.user.id)
    return f"Removed {username}; their personal data is erased."


async def _resend_invitation(step: Step) -> str:
    sent = await invitation_upkeep.resend_invitation(
        step.db, step.ring, step.settings, step.actor, step.user.id
    )
    return f"Invitation sent to {sent.masked_email}"


async def _cancel_invitation(step: Step) -> str:
    username = await invitation_upkeep.cancel_invitation(step.db, step.actor, step.user.id)
    return f"Invitation for {username} withdrawn."


async def _change_role(step: Step) -> str:
    try:
        role = Role(step.role or "")
    except ValueError:
        raise InvalidInput(
            "Choose one of the roles offered.", code="invalid_role", field="role"
        ) from None
    await user_management.change_role(step.db, step.actor, step.user.id, role)
    return f"Role changed to {role_in_words(role)}"


_SIGNED_OUT = "signs them out everywhere: every session and API token stops working at once"

# Every action the user page posts to `/admin/users/{id}/{action}`, and nothing else.
USER_ACTIONS: dict[str, UserAction] = {
    "suspend": UserAction(
        "Suspend",
        "danger",
        _suspend,
        (_SIGNED_OUT, "they cannot sign in until reactivated", "they will be mailed"),
    ),
    "reactivate": UserAction("Reactivate", "", _reactivate),
    "revoke-sessions": UserAction(
        "End all sessions",
        "secondary",
        _revoke_sessions,
        (
            "signs them out everywhere: every session they have open ends",
            "they can sign in again with their password and second factor",
        ),
    ),
    "force-password-change": UserAction(
        "Force password change",
        "secondary",
        _force_password_change,
        (
            _SIGNED_OUT,
            "they must choose a new password at their next sign-in",
            "they will be mailed",
        ),
    ),
    "reset-mfa": UserAction(
        "Reset second factor",
        "secondary",
        _reset_mfa,
        (
            "removes their authenticator and recovery codes",
            _SIGNED_OUT,
            "they set up a second factor again at their next sign-in",
            "they will be mailed",
        ),
    ),
    "unlock": UserAction("Lift sign-in lock", "secondary", _unlock),
    "remove": UserAction(
        "Remove user",
        "danger",
        _remove,
        (
            _SIGNED_OUT,
            "erases their personal data and their sign-in history for good",
            "cannot be undone",
        ),
        back_to_list=True,
    ),
    "resend-invitation": UserAction("Resend invitation", "secondary", _resend_invitation),
    "cancel-invitation": UserAction(
        "Cancel invitation",
        "danger",
        _cancel_invitation,
        (
            "the invitation link stops working",
            "the invited user and their personal data are removed",
            "the username is free to use again",
        ),
        back_to_list=True,
    ),
    "role": UserAction("Change role", "", _change_role),
}


def _known(action: str) -> UserAction:
    found = USER_ACTIONS.get(action)
    if found is None:
        raise NotFound("No such page.", code="not_found")
    return found


@router.get("/admin/users/{user_id}/{action}")
async def confirm_user_action(
    request: Request, user_id: str, action: str, auth: UserSupervisor, db: DbSession
) -> Response:
    # The user first: another account's id is "not found" whatever the action.
    user = await users.get_user_for(db, auth.actor, user_id)
    chosen = _known(action)
    if not chosen.confirmed_first:
        raise NotFound("No such page.", code="not_found")
    account = await get_account_for(db, auth.actor, user.account_id)
    if action not in permitted_actions(auth.actor, account, user):
        # No confirmation page for what the user page does not offer this viewer.
        raise Forbidden("You cannot do this to this user.", code="action_not_allowed")
    return confirmation_page(
        request,
        auth,
        title=f"{chosen.label}?",
        subject=user.username,
        consequences=chosen.consequences,
        action=f"/admin/users/{user.id}/{action}",
        button=chosen.label,
        back=f"/admin/users/{user.id}",
    )


@router.post("/admin/users/{user_id}/{action}")
async def user_action(
    user_id: str,
    action: str,
    auth: UserSupervisor,
    db: DbSession,
    ring: Keyring,
    settings: CurrentSettings,
    confirmed: Annotated[str | None, Form(max_length=8)] = None,
    role: Annotated[str | None, Form(max_length=32)] = None,
    back: Annotated[str | None, Form(max_length=8)] = None,
) -> Response:
    user = await users.get_user_for(db, auth.actor, user_id)
    chosen = USER_ACTIONS.get(action)
    if chosen is None:
        raise InvalidInput("Unknown action.", code="unknown_action")
    if chosen.confirmed_first:
        require_confirmed(confirmed)
    done = await chosen.perform(Step(db, ring, settings, auth.actor, user, role))
    # `back=list`: the button was on the user list (resend an invitation from there).
    to_list = chosen.back_to_list or back == "list"
    return redirect_with("/admin/users" if to_list else f"/admin/users/{user_id}", done)
