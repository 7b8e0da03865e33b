"""Invitations: an admin invites users (policy §4, "Admin create users"), each of whom sets a
first password through a single-use link. Every invitation is audited."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.access.actors import Actor
from amanat.access.roles import Role
from amanat.audit.actors import AuditActor
from amanat.audit.records import AuditEntry, record_event, record_events
from amanat.comms.outbox import queue_emails
from amanat.core.clock import utcnow
from amanat.core.crypto import MasterKeyring
from amanat.core.errors import AmanatError, Conflict, Forbidden, InvalidInput
from amanat.core.ids import new_id
from amanat.core.settings import Settings
from amanat.identity.accounts import account_in_use, get_account_for
from amanat.identity.credentials import set_new_password
from amanat.identity.mail import identity_email
from amanat.identity.models import User
from amanat.identity.tokens import (
    consume_one_time_token,
    issue_first_one_time_tokens,
    peek_one_time_token,
)
from amanat.identity.users import may_assign_role, normalize_username
from amanat.people.personal_data import PersonData
from amanat.people.registry import PersonEntry, create_people


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
        if not may_assign_role(actor, account, invitation.role):
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


async def invite_details(session: AsyncSession, token: str) -> User:
    row = await peek_one_time_token(session, purpose="invite", token=token)
    user = await session.get(User, row.user_id)
    if (
        user is None
        or user.status != "invited"
        or not await account_in_use(session, user.account_id)
    ):
        raise InvalidInput("This link is not valid any more.", code="link_invalid")
    return user


async def accept_invite(
    session: AsyncSession, ring: MasterKeyring, settings: Settings, *, token: str, password: str
) -> User:
    """Set the first password through an invitation link; the link is then used up."""
    user = await invite_details(session, token)
    await set_new_password(session, ring, settings, user, password)
    await consume_one_time_token(session, purpose="invite", token=token)
    user.status = "active"
    await record_event(
        session,
        actor=AuditActor(user.id, user.role.value),
        action="user.invite_accept",
        account_id=user.account_id,
        target_type="user",
        target_id=user.id,
    )
    return user
