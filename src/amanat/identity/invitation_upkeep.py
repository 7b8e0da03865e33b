"""Looking after pending invitations (policy §4, "Admin create users"): when each one runs out,
sending one again with a fresh link, and withdrawing one. Who may do which is
`amanat.identity.user_rules`; every change is audited like the other user-management events.

A user is pending while their status is "invited": they have never set a password. Anything
else (an active user, another account's user, a removed one) is "no pending invitation"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.access.actors import Actor
from amanat.access.roles import Permission
from amanat.audit.records import record_event
from amanat.comms.outbox import queue_emails
from amanat.core.clock import utcnow
from amanat.core.crypto import MasterKeyring
from amanat.core.errors import Forbidden, NotFound
from amanat.core.settings import Settings
from amanat.identity.invitations import invite_link
from amanat.identity.mail import identity_email
from amanat.identity.models import CustomerAccount, OneTimeToken, User
from amanat.identity.tokens import issue_one_time_token, token_digest
from amanat.identity.user_rules import may_cancel_invitation, may_resend_invitation
from amanat.identity.users import get_user_for
from amanat.people.blind_index import held_fields
from amanat.people.masking import mask_email
from amanat.people.personal_data import read_person
from amanat.people.registry import erase_person

INVITE = "invite"


@dataclass(frozen=True)
class SentInvitation:
    """An invitation sent again: to whom (masked) and until when its new link works."""

    user_id: str
    username: str
    masked_email: str
    expires_at: datetime


def _not_pending() -> NotFound:
    return NotFound("This user has no pending invitation.", code="invitation_not_found")


async def _pending_user(session: AsyncSession, actor: Actor, user_id: str) -> User:
    user = await get_user_for(session, actor, user_id)
    if user.status != "invited":
        raise _not_pending()
    return user


async def invitation_expiries(session: AsyncSession, actor: Actor) -> dict[str, datetime]:
    """When the latest invitation link of each pending user of the actor's own account runs
    out (a past time: it has run out and can be sent again)."""
    if not (actor.can(Permission.SUPERVISE_USERS) or actor.can(Permission.MANAGE_STAFF)):
        raise Forbidden("You are not allowed to list users.", code="forbidden")
    rows = await session.execute(
        select(OneTimeToken.user_id, OneTimeToken.expires_at)
        .join(User, User.id == OneTimeToken.user_id)
        .where(
            OneTimeToken.account_id == actor.account_id,
            OneTimeToken.purpose == INVITE,
            OneTimeToken.used_at.is_(None),
            User.status == "invited",
        )
    )
    expiries: dict[str, datetime] = {}
    for user_id, expires_at in rows.all():
        if user_id not in expiries or expires_at > expiries[user_id]:
            expiries[user_id] = expires_at
    return expiries


async def resend_invitation(
    session: AsyncSession, ring: MasterKeyring, settings: Settings, actor: Actor, user_id: str
) -> SentInvitation:
    """Mail the pending user a new single-use link; the previous link stops working at once
    and the new one runs for the configured invitation time from now."""
    user = await _pending_user(session, actor, user_id)
    account = await session.get(CustomerAccount, user.account_id)
    if account is None or not may_resend_invitation(
        actor, account, status=user.status, role=user.role
    ):
        raise Forbidden("You may not invite a user with this role here.", code="role_not_allowed")
    if user.person_id is None:
        raise _not_pending()
    person = await read_person(session, ring, user.person_id)
    valid_for = timedelta(hours=settings.invite_valid_hours)
    # Issuing marks every earlier unused invitation link of the user as used.
    token = await issue_one_time_token(session, user=user, purpose=INVITE, valid_for=valid_for)
    # A held address is another person's mailbox (`identity/claims.py`): the admin is answered
    # as for any address, but nothing is mailed there, and the link can never be accepted.
    if "email" not in await held_fields(session, person.id):
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
                    choose_username=user.username_held,
                    link=invite_link(settings, token),
                    valid_hours=settings.invite_valid_hours,
                )
            ],
        )
    expires_at = await session.scalar(
        select(OneTimeToken.expires_at).where(OneTimeToken.token_hash == token_digest(token))
    )
    assert expires_at is not None  # just issued
    user.updated_at = utcnow()
    await record_event(
        session,
        actor=actor.audit(),
        action="user.invite_resend",
        account_id=user.account_id,
        target_type="user",
        target_id=user.id,
    )
    await session.flush()
    return SentInvitation(
        user_id=user.id,
        username=user.username,
        masked_email=mask_email(person.email),
        expires_at=expires_at,
    )


async def cancel_invitation(session: AsyncSession, actor: Actor, user_id: str) -> str:
    """Withdraw a pending invitation: its link stops working, the invited person's data is
    erased and the user is kept only as an erased tombstone (audit records name real ids), so
    the username is free again. Returns the username the invitation was for."""
    user = await _pending_user(session, actor, user_id)
    if not may_cancel_invitation(actor, user_id=user.id, status=user.status, role=user.role):
        raise Forbidden("You may not withdraw this invitation.", code="forbidden")
    username = user.username
    await session.execute(delete(OneTimeToken).where(OneTimeToken.user_id == user.id))
    if user.person_id is not None:
        await erase_person(session, user.person_id)
    user.person_id = None
    user.status = "erased"
    user.username = f"erased-{user.id}"
    user.updated_at = utcnow()
    await record_event(
        session,
        actor=actor.audit(),
        action="user.invite_cancel",
        account_id=user.account_id,
        target_type="user",
        target_id=user.id,
    )
    await session.flush()
    return username
