"""New-device alerts and their "this was not me" link.

The link is a password-reset link (the same single-use token, purpose `password_reset`) that
first asks for a confirmation: confirming signs the account out everywhere, stops its API
tokens and forgets its devices; the reset form then lets the person choose a new password. The
alert link lives longer than a reset link asked for by hand: a person may read the mail hours
later, and whoever can read their mailbox could ask for a reset link anyway.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.activity.service import (
    RequestContext,
    forget_devices,
    record_security_event,
    send_new_device_alert,
)
from amanat.audit.actors import AuditActor
from amanat.audit.records import record_event
from amanat.core.clock import utcnow
from amanat.core.crypto import MasterKeyring
from amanat.core.settings import Settings
from amanat.identity import recovery
from amanat.identity.models import ApiToken, User
from amanat.identity.sessions import end_all_sessions
from amanat.identity.tokens import issue_one_time_token
from amanat.people.personal_data import read_person

NOT_ME_LINK_VALID = timedelta(hours=24)


def not_me_link(settings: Settings, token: str) -> str:
    return f"{settings.base_url}/not-me/{token}"


async def alert_new_device(
    session: AsyncSession,
    ring: MasterKeyring,
    settings: Settings,
    *,
    user: User,
    context: RequestContext,
) -> None:
    """Mail the person about a sign-in from an unseen device, with a "this was not me" link."""
    if user.person_id is None:
        return
    person = await read_person(session, ring, user.person_id)
    token = await issue_one_time_token(
        session, user=user, purpose=recovery.PURPOSE, valid_for=NOT_ME_LINK_VALID
    )
    await send_new_device_alert(
        session,
        ring,
        to=person.email,
        account_id=user.account_id,
        username=user.username,
        context=context,
        at=utcnow(),
        link=not_me_link(settings, token),
        valid_hours=int(NOT_ME_LINK_VALID.total_seconds() // 3600),
    )


async def not_me_details(session: AsyncSession, token: str) -> User:
    """The user a live "this was not me" link belongs to (to show the confirmation)."""
    return await recovery.reset_details(session, token)


async def disown_sign_in(
    session: AsyncSession, *, token: str, context: RequestContext | None
) -> User:
    """ "This was not me": end every session and API token of the user and forget their devices.

    The link stays usable for the password reset that follows; completing it uses it up.
    """
    user = await recovery.reset_details(session, token)
    ended = await end_all_sessions(session, user.id)
    await session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    await forget_devices(session, user_id=user.id)
    await record_security_event(
        session,
        kind="session_revoked",
        user_id=user.id,
        account_id=user.account_id,
        context=context,
    )
    await record_event(
        session,
        actor=AuditActor(user.id, user.role.value),
        action="user.sign_in_disowned",
        account_id=user.account_id,
        target_type="user",
        target_id=user.id,
        details={"sessions_ended": ended},
    )
    await session.flush()
    return user
