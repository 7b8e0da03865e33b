"""Which roles an actor may give and which actions they may take on a user they supervise.

One rule, used three ways: the services enforce it (`user_management.change_role`,
`invitation_upkeep`), the pages show only the buttons and role choices it allows, and the
tests compare the two. Roles are named in words here for the pages (the audit log's words).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.access.actors import Actor
from amanat.access.roles import ACCOUNT_ROLES, PLATFORM_ROLES, Role
from amanat.audit.event_words import role_words
from amanat.core.errors import Conflict, Forbidden, InvalidInput
from amanat.identity.models import CustomerAccount, User
from amanat.identity.users import may_assign_role


def role_in_words(role: Role | str) -> str:
    """ "Platform administrator" for `platform_admin`: the audit log's words, one list for all."""
    return role_words(str(role))


def _roles_of(account_kind: str) -> list[Role]:
    kind = PLATFORM_ROLES if account_kind == "platform" else ACCOUNT_ROLES
    return [role for role in Role if role in kind]


def listed_roles(actor: Actor) -> list[Role]:
    """The roles a user of the actor's own account can hold (the choices of a role filter)."""
    return _roles_of("platform" if actor.is_platform_staff else "customer")


def roles_to_invite(actor: Actor, account: CustomerAccount) -> list[Role]:
    """The roles the actor may give a new user of the account (the invitation's rule)."""
    return [role for role in _roles_of(account.kind) if may_assign_role(actor, account, role)]


async def is_last_owner(session: AsyncSession, user: User) -> bool:
    """Whether the user is the only owner (active, invited or suspended) of their account."""
    owners = await session.scalars(
        select(User.id).where(
            User.account_id == user.account_id,
            User.role == Role.OWNER,
            User.status.in_(("active", "invited", "suspended")),
        )
    )
    return list(owners) == [user.id]


def _owner_protected(actor: Actor, role: Role | str) -> bool:
    """An owner is changed, suspended or uninvited by an owner (or the operator) only."""
    return role == Role.OWNER and not (actor.is_operator or actor.role == Role.OWNER)


async def check_role_change(session: AsyncSession, actor: Actor, user: User, role: Role) -> None:
    """Refuse, with the reason, a role change the actor may not make (the user is one the actor
    supervises: `users.get_user_for`)."""
    if actor.user_id == user.id:
        raise InvalidInput("You cannot do this to your own account.", code="not_on_self")
    account = await session.get(CustomerAccount, user.account_id)
    if account is None or not may_assign_role(actor, account, role):
        raise Forbidden("You may not give this role here.", code="role_not_allowed")
    if _owner_protected(actor, user.role):
        raise Forbidden("Only an owner can change an owner's role.", code="forbidden")
    if user.role == Role.OWNER and role != Role.OWNER and await is_last_owner(session, user):
        raise Conflict("An account keeps at least one owner.", code="last_owner")


async def roles_to_give(session: AsyncSession, actor: Actor, user: User) -> list[Role]:
    """The roles `check_role_change` lets the actor give this user, other than the one they
    hold: empty when the role cannot be changed here."""
    account = await session.get(CustomerAccount, user.account_id)
    if account is None:
        return []
    allowed: list[Role] = []
    for role in _roles_of(account.kind):
        if role == user.role:
            continue
        try:
            await check_role_change(session, actor, user, role)
        except (InvalidInput, Forbidden, Conflict):
            continue
        allowed.append(role)
    return allowed


def may_resend_invitation(
    actor: Actor, account: CustomerAccount, *, status: str, role: Role | str
) -> bool:
    """A pending invitation is sent again by whoever may give the invited user's role."""
    return status == "invited" and may_assign_role(actor, account, Role(role))


def may_cancel_invitation(actor: Actor, *, user_id: str, status: str, role: Role | str) -> bool:
    """A pending invitation is withdrawn by its supervisor, an owner's only by an owner."""
    return status == "invited" and actor.user_id != user_id and not _owner_protected(actor, role)


def permitted_actions(actor: Actor, account: CustomerAccount, user: User) -> frozenset[str]:
    """The user page's actions (`/admin/users/{id}/{action}`) the actor may take on this user,
    by the rules the services enforce; actions that would do nothing (suspend the suspended,
    end the sessions of someone who never signed in) are left out too."""
    itself = actor.user_id == user.id
    pending = user.status == "invited"
    allowed: set[str] = {"unlock"} if not pending else set()
    if user.status == "suspended":
        allowed.add("reactivate")
    elif not itself and not _owner_protected(actor, user.role):
        allowed.add("suspend")
    if not itself and not pending:
        allowed |= {"revoke-sessions", "force-password-change"}
        if user.mfa_enabled_at is not None or user.totp_secret is not None:
            allowed.add("reset-mfa")
    if not itself and (user.role != Role.OWNER or actor.is_operator) and not pending:
        allowed.add("remove")
    if may_resend_invitation(actor, account, status=user.status, role=user.role):
        allowed.add("resend-invitation")
    if may_cancel_invitation(actor, user_id=user.id, status=user.status, role=user.role):
        allowed.add("cancel-invitation")
    return frozenset(allowed)
