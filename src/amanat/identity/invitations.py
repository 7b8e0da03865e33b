"""Invitations: an admin invites users (policy §4, "Admin create users"), each of whom sets a
first password through a single-use link. Every invitation is audited.

A username, email or CNIC that a user or person of the same account has is refused openly
(409 `username_taken`, `email_taken`, `cnic_taken`); one that only another customer account
has is accepted exactly as a free one would be, and stored as a held claim (`claims`): a held
email gets no invitation (its holder gets a warning, and the link can never be used), and the
invitee of a held username picks a free one when accepting.
"""

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
from amanat.identity.claims import HeldClaim, settle_claims
from amanat.identity.credentials import set_new_password
from amanat.identity.mail import identity_email
from amanat.identity.models import User
from amanat.identity.tokens import (
    consume_one_time_token,
    issue_first_one_time_tokens,
    peek_one_time_token,
)
from amanat.identity.users import may_assign_role, normalize_username
from amanat.people.blind_index import Entered, held_fields, resolve_claims
from amanat.people.registry import PersonEntry, enter_people


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
    # Platform staff see every account anyway: to them a value held elsewhere is refused.
    hold_foreign = not actor.is_platform_staff
    ours: set[str] = set()
    foreign: dict[str, str] = {}  # a username another account's user holds: that account
    for existing, owner, held in await session.execute(
        select(User.username, User.account_id, User.username_held).where(User.username.in_(names))
    ):
        if owner == account.id or (not held and not hold_foreign):
            ours.add(existing)  # held or not: the admin sees their own users anyway
        elif not held:
            foreign.setdefault(existing, owner)
    for position, name in enumerate(outcomes):
        if isinstance(name, str) and name in ours:
            outcomes[position] = Conflict(
                "This username is already taken.", code="username_taken", field="username"
            )
        elif isinstance(name, str):
            ours.add(name)
    waiting = [position for position, name in enumerate(outcomes) if isinstance(name, str)]
    people = await enter_people(
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
        hold_foreign=hold_foreign,
    )
    now = utcnow()
    created: list[tuple[int, User, Entered]] = []
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
            username_held=name in foreign,
            role=invitations[position].role,
            status="invited",
            person_id=person.person.id,
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
                    to=entered.person.email,
                    account_id=account.id,
                    account_name=account.name,
                    username=user.username,
                    choose_username=user.username_held,
                    link=invite_link(settings, token),
                    valid_hours=int(valid_for.total_seconds() // 3600),
                )
                for (_position, user, entered), token in zip(created, tokens, strict=True)
                # A held address is another person's mailbox: its holder is warned instead.
                if not any(held.field == "email" for held in entered.held)
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
    claims = [
        HeldClaim.of_person(user.id, entered.person.id, held)
        for _position, user, entered in created
        for held in entered.held
    ] + [
        HeldClaim(user.id, user.person_id, "username", foreign[user.username])
        for _position, user, _entered in created
        if user.username_held
    ]
    await settle_claims(session, ring, settings, actor, account_id=account.id, claims=claims)
    for (position, user, _person), token in zip(created, tokens, strict=True):
        outcomes[position] = (user, token)
    return [outcome for outcome in outcomes if not isinstance(outcome, str)]


def invite_link(settings: Settings, token: str) -> str:
    return f"{settings.base_url}/invite/{token}"


async def invite_details(session: AsyncSession, token: str) -> User:
    """The invited user a live link belongs to. An invitation whose email address another
    account's person holds can never be accepted (it would make a second account of theirs):
    its link is refused like a used one, and it expires as usual."""
    row = await peek_one_time_token(session, purpose="invite", token=token)
    user = await session.get(User, row.user_id)
    if (
        user is None
        or user.status != "invited"
        or not await account_in_use(session, user.account_id)
        or (user.person_id is not None and "email" in await held_fields(session, user.person_id))
    ):
        raise InvalidInput("This link is not valid any more.", code="link_invalid")
    return user


def must_choose_username(user: User) -> bool:
    """Whether the invitee must pick a username of their own: the one the admin asked for
    belongs to a user of another account."""
    return user.username_held


async def _choose_username(session: AsyncSession, user: User, username: str | None) -> None:
    if username is None or not username.strip():
        raise InvalidInput(
            "Choose a username: the one proposed for you is not available.",
            code="username_required",
            field="username",
        )
    login = normalize_username(username)
    taken = select(User.id).where(User.username == login, User.username_held.is_(False))
    if await session.scalar(taken):
        raise Conflict(
            "This username is already taken. Choose another.",
            code="username_taken",
            field="username",
        )
    user.username = login
    user.username_held = False
    await resolve_claims(session, field="username", user_id=user.id, at=utcnow())
    await session.flush()


async def accept_invite(
    session: AsyncSession,
    ring: MasterKeyring,
    settings: Settings,
    *,
    token: str,
    password: str,
    username: str | None = None,
) -> User:
    """Set the first password through an invitation link; the link is then used up. The
    ``username`` is read only when the invitee must choose one (`must_choose_username`)."""
    user = await invite_details(session, token)
    if must_choose_username(user):
        await _choose_username(session, user, username)
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
