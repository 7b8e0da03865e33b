"""Changing one's own password while signed in, giving the current one (ASVS V6.2.3)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from amanat.activity.service import RequestContext, record_security_event
from amanat.audit.actors import AuditActor
from amanat.audit.records import record_event
from amanat.core.crypto import MasterKeyring
from amanat.core.settings import Settings
from amanat.identity import throttle
from amanat.identity.credentials import set_new_password
from amanat.identity.mail import send_identity_mail
from amanat.identity.models import User
from amanat.identity.reauthentication import check_current_password
from amanat.identity.sessions import end_all_sessions
from amanat.people.personal_data import read_person


async def change_password(
    session: AsyncSession,
    ring: MasterKeyring,
    settings: Settings,
    *,
    user: User,
    current_session_id: str,
    current_password: str,
    new_password: str,
    end_other_sessions: bool = True,
    context: RequestContext | None = None,
) -> int:
    """Change one's own password, giving the current one (V6.2.3); other sessions end.

    Wrong current passwords count as failed sign-ins of the user (throttled, then locked). The
    new password must differ from the current one; the person is mailed that it changed.
    """
    await check_current_password(session, ring, settings, user, current_password, context=context)
    await set_new_password(session, ring, settings, user, new_password)
    await throttle.clear(session, throttle.account_key(ring, user.id))
    ended = 0
    if end_other_sessions:
        ended = await end_all_sessions(session, user.id, keep_session_id=current_session_id)
    await record_event(
        session,
        actor=AuditActor(user.id, user.role.value),
        action="user.password_change",
        account_id=user.account_id,
        target_type="user",
        target_id=user.id,
        details={"sessions_ended": ended},
    )
    await record_security_event(
        session,
        kind="password_change",
        user_id=user.id,
        account_id=user.account_id,
        context=context,
        session_id=current_session_id,
    )
    if user.person_id is not None:
        # The owner hears of it, as after a reset: a stolen session may be the one changing it.
        person = await read_person(session, ring, user.person_id)
        await send_identity_mail(
            session,
            ring,
            template="password_changed",
            to=person.email,
            account_id=user.account_id,
            username=user.username,
            changed_by="change",
            sessions_ended=ended,
            has_mfa=user.mfa_enabled_at is not None,
            reset_page=f"{settings.base_url}/reset",
        )
    return ended
