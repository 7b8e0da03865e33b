"""Managing users: what an admin does to a user they supervise (policy §4, "Admin create users
and supervise them"): suspend and reactivate, change the role, lift a sign-in lock, end the
sessions, force a password change, reset the second factor, remove. The user is found through
`users.get_user_for`, so every action is scoped to the actor; every action is audited."""

from __future__ import annotations

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.access.actors import Actor
from amanat.access.roles import Role
from amanat.activity.service import EventKind, forget_user_activity, record_security_event
from amanat.audit.records import record_event
from amanat.core.clock import utcnow
from amanat.core.crypto import MasterKeyring
from amanat.core.errors import Conflict, Forbidden, InvalidInput
from amanat.identity import throttle
from amanat.identity.mail import tell_users
from amanat.identity.models import ApiToken, RecoveryCode, User
from amanat.identity.sessions import end_all_sessions
from amanat.identity.user_rules import check_role_change
from amanat.identity.users import get_user_for
from amanat.people.registry import erase_person


async def _revoke_credentials_in_use(session: AsyncSession, user: User) -> int:
    ended = await end_all_sessions(session, user.id)
    await session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return ended


async def _note(session: AsyncSession, user: User, kind: EventKind) -> None:
    """Put an admin's action in the user's security history (without the admin's context)."""
    await record_security_event(
        session, kind=kind, user_id=user.id, account_id=user.account_id, context=None
    )


def _not_self(actor: Actor, user: User) -> None:
    if actor.user_id == user.id:
        raise InvalidInput("You cannot do this to your own account.", code="not_on_self")


async def suspend_user(
    session: AsyncSession, ring: MasterKeyring, actor: Actor, user_id: str
) -> User:
    """Suspend at once: every session and API token of the user stops working; they are
    mailed."""
    user = await get_user_for(session, actor, user_id)
    _not_self(actor, user)
    if user.role == Role.OWNER and actor.role != Role.OWNER and not actor.is_operator:
        raise Forbidden("Only an owner can suspend an owner.", code="forbidden")
    user.status = "suspended"
    user.updated_at = utcnow()
    ended = await _revoke_credentials_in_use(session, user)
    await record_event(
        session,
        actor=actor.audit(),
        action="user.suspend",
        account_id=user.account_id,
        target_type="user",
        target_id=user.id,
        details={"sessions_ended": ended},
    )
    await _note(session, user, "session_revoked")
    await tell_users(session, ring, [user], template="user_suspended")
    await session.flush()
    return user


async def reactivate_user(session: AsyncSession, actor: Actor, user_id: str) -> User:
    user = await get_user_for(session, actor, user_id)
    if user.status != "suspended":
        raise Conflict("Only a suspended user can be reactivated.", code="not_suspended")
    user.status = "active" if user.password_hash else "invited"
    user.updated_at = utcnow()
    await record_event(
        session,
        actor=actor.audit(),
        action="user.reactivate",
        account_id=user.account_id,
        target_type="user",
        target_id=user.id,
    )
    await session.flush()
    return user


async def change_role(session: AsyncSession, actor: Actor, user_id: str, role: Role) -> User:
    """Grant another role; the user's sessions end, so new privileges need a fresh sign-in
    (session rotation on privilege change)."""
    user = await get_user_for(session, actor, user_id)
    # The one rule the user page also uses to offer only the roles it may give.
    await check_role_change(session, actor, user, role)
    previous = user.role
    user.role = role
    user.updated_at = utcnow()
    await end_all_sessions(session, user.id)
    await record_event(
        session,
        actor=actor.audit(),
        action="user.role_change",
        account_id=user.account_id,
        target_type="user",
        target_id=user.id,
        details={"from": previous.value, "to": role.value},
    )
    await session.flush()
    return user


async def unlock_user(
    session: AsyncSession, ring: MasterKeyring, actor: Actor, user_id: str
) -> User:
    """Lift a sign-in lock on a user before it runs out (the address locks stay)."""
    user = await get_user_for(session, actor, user_id)
    # One key for the account, whether it was reached by username or by email.
    await throttle.clear(session, throttle.account_key(ring, user.id))
    user.failed_signins = 0
    await record_event(
        session,
        actor=actor.audit(),
        action="user.unlock",
        account_id=user.account_id,
        target_type="user",
        target_id=user.id,
    )
    await _note(session, user, "unlock")
    await session.flush()
    return user


async def revoke_user_sessions(session: AsyncSession, actor: Actor, user_id: str) -> int:
    """End every session of a supervised user. One's own sessions are ended from one's own
    account page, which keeps the current one (an admin here would sign themself out)."""
    user = await get_user_for(session, actor, user_id)
    _not_self(actor, user)
    ended = await end_all_sessions(session, user.id)
    await record_event(
        session,
        actor=actor.audit(),
        action="user.sessions_revoke",
        account_id=user.account_id,
        target_type="user",
        target_id=user.id,
        details={"sessions_ended": ended},
    )
    await _note(session, user, "session_revoked")
    return ended


async def force_password_change(
    session: AsyncSession, ring: MasterKeyring, actor: Actor, user_id: str
) -> User:
    """The user must choose a new password at their next sign-in; current sessions end; they
    are mailed. Not on oneself: one changes one's own password directly."""
    user = await get_user_for(session, actor, user_id)
    _not_self(actor, user)
    user.must_change_password = True
    user.updated_at = utcnow()
    await _revoke_credentials_in_use(session, user)
    await record_event(
        session,
        actor=actor.audit(),
        action="user.force_password_change",
        account_id=user.account_id,
        target_type="user",
        target_id=user.id,
    )
    await _note(session, user, "session_revoked")
    await tell_users(session, ring, [user], template="password_must_change")
    await session.flush()
    return user


async def reset_user_mfa(
    session: AsyncSession, ring: MasterKeyring, actor: Actor, user_id: str
) -> User:
    """An admin's audited reset of a lost second factor; the user enrols again at sign-in and
    is mailed (a reset they did not ask for is a warning sign)."""
    user = await get_user_for(session, actor, user_id)
    _not_self(actor, user)
    user.totp_secret = None
    user.totp_last_step = None
    user.mfa_enabled_at = None
    user.updated_at = utcnow()
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    await _revoke_credentials_in_use(session, user)
    await record_event(
        session,
        actor=actor.audit(),
        action="user.mfa_reset",
        account_id=user.account_id,
        target_type="user",
        target_id=user.id,
    )
    await _note(session, user, "mfa_change")
    await tell_users(session, ring, [user], template="mfa_reset")
    await session.flush()
    return user


async def remove_user(session: AsyncSession, actor: Actor, user_id: str) -> None:
    """Remove a user: credentials revoked, personal data crypto-shredded, the row kept as an
    erased tombstone so audit records still name a real id."""
    user = await get_user_for(session, actor, user_id)
    _not_self(actor, user)
    if user.role == Role.OWNER and not actor.is_operator:
        raise Forbidden("An owner cannot be removed here.", code="forbidden")
    await _revoke_credentials_in_use(session, user)
    if user.person_id is not None:
        await erase_person(session, user.person_id)
    user.person_id = None
    user.password_hash = None
    user.totp_secret = None
    user.status = "erased"
    user.username = f"erased-{user.id}"
    user.updated_at = utcnow()
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    # Sign-in history and devices are about the person: they go with them.
    await forget_user_activity(session, user_id=user.id)
    await record_event(
        session,
        actor=actor.audit(),
        action="user.remove",
        account_id=user.account_id,
        target_type="user",
        target_id=user.id,
    )
    await session.flush()
