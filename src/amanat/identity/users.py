"""Users: admins create them by invitation and supervise them (policy §4: "Admin create users
and supervise them"). Every action on a user is audited; every query is scoped to the actor."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.access.actors import Actor
from amanat.access.roles import ACCOUNT_ROLES, PLATFORM_ROLES, Permission, Role
from amanat.activity.service import EventKind, forget_user_activity, record_security_event
from amanat.audit.service import AuditEntry, record_event, record_events
from amanat.comms.outbox import queue_emails
from amanat.core.clock import utcnow
from amanat.core.crypto import MasterKeyring
from amanat.core.errors import AmanatError, Conflict, Forbidden, InvalidInput, NotFound
from amanat.core.ids import new_id
from amanat.core.settings import Settings
from amanat.identity import throttle
from amanat.identity.accounts import get_account_for
from amanat.identity.mail import identity_email
from amanat.identity.models import ApiToken, CustomerAccount, RecoveryCode, User
from amanat.identity.sessions import end_all_sessions
from amanat.identity.tokens import issue_first_one_time_tokens
from amanat.people.service import (
    PersonData,
    PersonEntry,
    create_people,
    erase_person,
    read_people_by_id,
    read_person,
)

USERNAME_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{1,62}[a-z0-9])$")


@dataclass(frozen=True)
class UserSummary:
    id: str
    account_id: str
    username: str
    role: str
    status: str
    masked_name: str
    masked_email: str
    mfa_enabled: bool
    last_signin_at: datetime | None
    created_at: datetime


def normalize_username(value: str) -> str:
    username = value.strip().lower()
    if not USERNAME_PATTERN.match(username):
        raise InvalidInput(
            "Usernames are 3 to 64 characters: letters a–z, digits, dot, dash, underscore; "
            "starting and ending with a letter or digit.",
            code="invalid_username",
            field="username",
        )
    return username


def _may_assign(actor: Actor, account: CustomerAccount, role: Role) -> bool:
    if actor.is_operator:
        return True
    if account.kind == "platform":
        return role in PLATFORM_ROLES and actor.can(Permission.MANAGE_STAFF)
    if role not in ACCOUNT_ROLES:
        return False
    if actor.can(Permission.MANAGE_CUSTOMER_ACCOUNTS):
        return True  # a platform admin seeds a customer account's first owner or admins
    if actor.account_id != account.id or not actor.can(Permission.MANAGE_USERS):
        return False
    return role == Role.MEMBER or actor.can(Permission.GRANT_ADMIN)


@dataclass(frozen=True, repr=False)
class Invitation:
    """One user to invite: login, role and the person's fields (validated on the way in)."""

    username: str
    full_name: str
    email: str
    role: Role
    phone: str | None = None
    cnic: str | None = None
    address: Mapping[str, object] | None = None

    def __repr__(self) -> str:
        return f"Invitation(role={self.role.value!r})"


async def invite_user(
    session: AsyncSession,
    ring: MasterKeyring,
    settings: Settings,
    actor: Actor,
    *,
    account_id: str,
    username: str,
    full_name: str,
    email: str,
    role: Role,
    phone: str | None = None,
    cnic: str | None = None,
    address: Mapping[str, object] | None = None,
    link_valid_for: timedelta | None = None,
    send_mail: bool = True,
) -> tuple[User, str]:
    """Create an invited user and mail them a single-use link to set a password; phone, CNIC
    and address are optional unless the operator requires them."""
    invitation = Invitation(username, full_name, email, role, phone, cnic, address)
    [outcome] = await invite_users(
        session,
        ring,
        settings,
        actor,
        account_id=account_id,
        invitations=[invitation],
        link_valid_for=link_valid_for,
        send_mail=send_mail,
    )
    if isinstance(outcome, AmanatError):
        raise outcome
    return outcome


async def invite_users(
    session: AsyncSession,
    ring: MasterKeyring,
    settings: Settings,
    actor: Actor,
    *,
    account_id: str,
    invitations: Sequence[Invitation],
    link_valid_for: timedelta | None = None,
    send_mail: bool = True,
) -> list[tuple[User, str] | AmanatError]:
    """Invite many users into one account with a few statements; one outcome per invitation:
    the user and their link secret, or why it was refused (nothing stored for it)."""
    account = await get_account_for(session, actor, account_id)
    outcomes: list[tuple[User, str] | AmanatError | str] = []
    for invitation in invitations:
        if not _may_assign(actor, account, invitation.role):
            outcomes.append(
                Forbidden("You may not create a user with this role here.", code="role_not_allowed")
            )
            continue
        try:
            outcomes.append(normalize_username(invitation.username))
        except InvalidInput as exc:
            outcomes.append(exc)
    names = [name for name in outcomes if isinstance(name, str)]
    taken = set(await session.scalars(select(User.username).where(User.username.in_(names))))
    claimed: set[str] = set()
    for position, name in enumerate(outcomes):
        if isinstance(name, str) and (name in taken or name in claimed):
            outcomes[position] = Conflict(
                "This username is already taken.", code="username_taken", field="username"
            )
        elif isinstance(name, str):
            claimed.add(name)
    waiting = [position for position, name in enumerate(outcomes) if isinstance(name, str)]
    people = await create_people(
        session,
        ring,
        account_id=account.id,
        entries=[
            PersonEntry(
                full_name=invitations[position].full_name,
                email=invitations[position].email,
                phone=invitations[position].phone,
                cnic=invitations[position].cnic,
                address=invitations[position].address,
            )
            for position in waiting
        ],
        required=settings.require_identity_fields,
    )
    now = utcnow()
    created: list[tuple[int, User, PersonData]] = []
    for position, person in zip(waiting, people, strict=True):
        if isinstance(person, AmanatError):
            outcomes[position] = person
            continue
        name = outcomes[position]
        assert isinstance(name, str)
        user = User(
            id=new_id(),
            account_id=account.id,
            username=name,
            role=invitations[position].role,
            status="invited",
            person_id=person.id,
            must_change_password=False,
            failed_signins=0,
            created_at=now,
            updated_at=now,
        )
        created.append((position, user, person))
    if not created:
        return [outcome for outcome in outcomes if not isinstance(outcome, str)]
    session.add_all(user for _position, user, _person in created)
    await session.flush()
    valid_for = link_valid_for or timedelta(hours=settings.invite_valid_hours)
    tokens = await issue_first_one_time_tokens(
        session,
        users=[user for _position, user, _person in created],
        purpose="invite",
        valid_for=valid_for,
    )
    if send_mail:
        await queue_emails(
            session,
            ring,
            [
                identity_email(
                    "invite",
                    to=person.email,
                    account_id=account.id,
                    account_name=account.name,
                    username=user.username,
                    link=invite_link(settings, token),
                    valid_hours=int(valid_for.total_seconds() // 3600),
                )
                for (_position, user, person), token in zip(created, tokens, strict=True)
            ],
        )
    await record_events(
        session,
        [
            AuditEntry(
                actor=actor.audit(),
                action="user.invite",
                account_id=account.id,
                target_type="user",
                target_id=user.id,
                details={"role": user.role.value},
            )
            for _position, user, _person in created
        ],
    )
    for (position, user, _person), token in zip(created, tokens, strict=True):
        outcomes[position] = (user, token)
    return [outcome for outcome in outcomes if not isinstance(outcome, str)]


def invite_link(settings: Settings, token: str) -> str:
    return f"{settings.base_url}/invite/{token}"


async def get_user_for(session: AsyncSession, actor: Actor, user_id: str) -> User:
    """A user the actor supervises: same account and user-management rights, or platform staff
    management for the platform account. Anything else is "not found" (no IDOR)."""
    user = await session.get(User, user_id)
    if user is None or user.status == "erased" or not _supervises(actor, user):
        raise NotFound("No such user.", code="user_not_found")
    return user


def _supervises(actor: Actor, user: User) -> bool:
    if actor.is_operator:
        return True
    if actor.account_id == user.account_id:
        return actor.can(Permission.SUPERVISE_USERS) or (
            actor.is_platform_staff and actor.can(Permission.MANAGE_STAFF)
        )
    return False


async def list_users(
    session: AsyncSession,
    ring: MasterKeyring,
    actor: Actor,
    *,
    status: str | None = None,
    username_prefix: str | None = None,
    role: Role | None = None,
    limit: int = 200,
) -> list[UserSummary]:
    """The actor's own account's users, masked, newest first; filtered by status, role and
    the beginning of the username when given."""
    if not (actor.can(Permission.SUPERVISE_USERS) or actor.can(Permission.MANAGE_STAFF)):
        raise Forbidden("You are not allowed to list users.", code="forbidden")
    statement = select(User).where(User.account_id == actor.account_id, User.status != "erased")
    if status:
        statement = statement.where(User.status == status)
    if role is not None:
        statement = statement.where(User.role == role)
    if username_prefix:
        prefix = username_prefix.strip().lower().replace("%", "").replace("_", "\\_")
        statement = statement.where(User.username.like(f"{prefix}%", escape="\\"))
    rows = (await session.scalars(statement.order_by(User.created_at.desc()).limit(limit))).all()
    people = await read_people_by_id(
        session, ring, [row.person_id for row in rows if row.person_id is not None]
    )
    return [_summary(row, people.get(row.person_id) if row.person_id else None) for row in rows]


async def summarize(session: AsyncSession, ring: MasterKeyring, user: User) -> UserSummary:
    person = await read_person(session, ring, user.person_id) if user.person_id else None
    return _summary(user, person)


def _summary(user: User, person: PersonData | None) -> UserSummary:
    masked = person.masked() if person is not None else {"full_name": "", "email": ""}
    return UserSummary(
        id=user.id,
        account_id=user.account_id,
        username=user.username,
        role=user.role.value,
        status=user.status,
        masked_name=masked["full_name"],
        masked_email=masked["email"],
        mfa_enabled=user.mfa_enabled_at is not None,
        last_signin_at=user.last_signin_at,
        created_at=user.created_at,
    )


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


async def suspend_user(session: AsyncSession, actor: Actor, user_id: str) -> User:
    """Suspend at once: every session and API token of the user stops working."""
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
    _not_self(actor, user)
    account = await session.get(CustomerAccount, user.account_id)
    if account is None or not _may_assign(actor, account, role):
        raise Forbidden("You may not give this role here.", code="role_not_allowed")
    if user.role == Role.OWNER and not (actor.is_operator or actor.role == Role.OWNER):
        raise Forbidden("Only an owner can change an owner's role.", code="forbidden")
    if user.role == Role.OWNER and role != Role.OWNER and await _last_owner(session, user):
        raise Conflict("An account keeps at least one owner.", code="last_owner")
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


async def _last_owner(session: AsyncSession, user: User) -> bool:
    owners = await session.scalars(
        select(User.id).where(
            User.account_id == user.account_id,
            User.role == Role.OWNER,
            User.status.in_(("active", "invited", "suspended")),
        )
    )
    return list(owners) == [user.id]


async def unlock_user(
    session: AsyncSession, ring: MasterKeyring, actor: Actor, user_id: str
) -> User:
    """Lift a sign-in lock on a user before it runs out (the address locks stay)."""
    user = await get_user_for(session, actor, user_id)
    await throttle.clear(session, throttle.login_key(ring, user.username))
    if user.person_id is not None:
        person = await read_person(session, ring, user.person_id)
        await throttle.clear(session, throttle.login_key(ring, person.email))
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
    user = await get_user_for(session, actor, user_id)
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


async def force_password_change(session: AsyncSession, actor: Actor, user_id: str) -> User:
    """The user must choose a new password at their next sign-in; current sessions end."""
    user = await get_user_for(session, actor, user_id)
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
    await session.flush()
    return user


async def reset_user_mfa(session: AsyncSession, actor: Actor, user_id: str) -> User:
    """An admin's audited reset of a lost second factor; the user enrols again at sign-in."""
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
