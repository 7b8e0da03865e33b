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
from amanat.identity.models import User
from amanat.identity.reauthentication import check_current_password
from amanat.identity.sessions import end_all_sessions


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

    Wrong current passwords count as failed sign-ins of the user (throttled, then locked).
    """
    await check_current_password(session, ring, settings, user, current_password, context=context)
    await set_new_password(session, ring, settings, user, new_password)
    await throttle.clear(session, throttle.login_key(ring, user.username))
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
    return ended
