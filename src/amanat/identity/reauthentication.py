"""Re-authentication by the current password, and what a sign-in lock sets off (ASVS V6.2.3,
V2.4.1).

A signed-in session that asks for the current password (to change it, or a contact detail) is
throttled with the user's sign-ins: the same per-account key, the same growing waits and lock. A
stolen session can therefore not guess the password without limit, nor get a second allowance
by switching from the sign-in form to the password form.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from amanat.activity.service import RequestContext, record_security_event
from amanat.audit.records import record_event
from amanat.core.crypto import MasterKeyring
from amanat.core.errors import InvalidInput, TooManyRequests
from amanat.core.settings import Settings
from amanat.identity import throttle
from amanat.identity.credentials import password_matches
from amanat.identity.hashing import run_password_work
from amanat.identity.mail import send_identity_mail
from amanat.identity.models import User
from amanat.people.personal_data import read_person


async def report_lock(
    session: AsyncSession,
    ring: MasterKeyring,
    settings: Settings,
    user: User,
    *,
    context: RequestContext | None,
) -> None:
    """A user's sign-in key just locked: note it in their history, mail them, audit it."""
    if user.person_id is None or user.status != "active":
        return
    await record_security_event(
        session, kind="lock", user_id=user.id, account_id=user.account_id, context=context
    )
    person = await read_person(session, ring, user.person_id)
    await send_identity_mail(
        session,
        ring,
        template="locked",
        to=person.email,
        account_id=user.account_id,
        username=user.username,
        failures=settings.signin_lock_failures,
        minutes=settings.signin_lock_minutes,
    )
    await record_event(
        session,
        actor=None,
        action="signin.locked",
        account_id=user.account_id,
        target_type="user",
        target_id=user.id,
    )


async def check_current_password(
    session: AsyncSession,
    ring: MasterKeyring,
    settings: Settings,
    user: User,
    password: str,
    *,
    context: RequestContext | None = None,
) -> None:
    """Refuse a wrong current password, counting it as a failed sign-in of the user.

    While the user's sign-in key waits or is locked, nothing is checked (429). A right password
    clears no count by itself: the caller does, once what it guarded is done.
    """
    key = throttle.account_key(ring, user.id)  # the sign-in's key, by whatever name
    wait = await throttle.blocked(session, settings, [key])
    if wait is not None:
        raise TooManyRequests(
            "Too many wrong passwords.",
            code="reauthentication_throttled",
            retry_after=wait.retry_after_seconds,
        )
    # Off the event loop: an argon2id verification takes tens of milliseconds.
    matched, _ = await run_password_work(password_matches, user, password)
    if matched:
        return
    locked = await throttle.register_failure(session, settings, [key])
    if key in locked:
        await report_lock(session, ring, settings, user, context=context)
    raise InvalidInput(
        "The current password is not right.",
        code="current_password_wrong",
        field="current_password",
        keep_changes=True,  # the failure counts, as a failed sign-in does
    )
