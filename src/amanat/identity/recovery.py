"""Password reset by email: a single-use link, 30 minutes by default (ASVS V6.4.1–3).

Asking for a reset gives one answer whether or not the login exists (V6.3.8): only the mailbox
of a real, active user learns anything. Requests are counted per client address, and at most
`RESET_MAILS_PER_USER` links per hour go to one user, so the form cannot flood a mailbox
(V2.4.1). Completing a reset ends every session and API token of the user; it leaves the second
factor in place, so the next sign-in still asks for it (V6.4.3).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.activity.service import RequestContext, record_security_event
from amanat.audit.actors import AuditActor
from amanat.audit.records import record_event
from amanat.core.clock import utcnow
from amanat.core.crypto import MasterKeyring, blind_index_key_from, compute_blind_index
from amanat.core.errors import InvalidInput, TooManyRequests
from amanat.core.logging import get_logger
from amanat.core.settings import Settings
from amanat.identity import throttle
from amanat.identity.accounts import account_in_use
from amanat.identity.credentials import set_new_password
from amanat.identity.mail import send_identity_mail
from amanat.identity.models import ApiToken, OneTimeToken, SigninThrottle, User
from amanat.identity.sessions import end_all_sessions
from amanat.identity.tokens import (
    consume_one_time_token,
    issue_one_time_token,
    peek_one_time_token,
)
from amanat.people.blind_index import find_person_id_by_email
from amanat.people.personal_data import read_person

RESET_REQUESTED = (
    "If an active account matches, we have sent it an email with a link to choose a new "
    "password. The link works once, for a short time."
)

log = get_logger("amanat.identity")

PURPOSE = "password_reset"
RESET_MAILS_PER_USER = 5  # per hour; more requests are answered alike but send nothing
RESET_REQUESTS_PER_ADDRESS = 20  # per hour, whatever logins they name
ALLOWANCE_WINDOW = timedelta(hours=1)


async def spend_allowance(
    session: AsyncSession, key: throttle.ThrottleKey, *, limit: int, window: timedelta
) -> int | None:
    """Count one request against `key`: None if it is within `limit` per `window`, else the
    seconds until the window ends. Kept in the sign-in throttle table under a key kind of its
    own, so these counts never lock a sign-in."""
    now = utcnow()
    row = await session.scalar(
        select(SigninThrottle).where(
            SigninThrottle.scope == key.scope, SigninThrottle.key_hash == key.digest
        )
    )
    if row is None:
        row = SigninThrottle(
            scope=key.scope, key_hash=key.digest, failures=0, window_started_at=now
        )
        session.add(row)
    elif now - row.window_started_at >= window:
        row.failures = 0
        row.window_started_at = now
        row.locked_until = None
    if row.failures >= limit:
        ends = row.window_started_at + window
        return max(1, int((ends - now).total_seconds() + 0.999))
    row.failures += 1
    await session.flush()
    return None


def allowance_key(ring: MasterKeyring, scope: str, kind: str, value: str) -> throttle.ThrottleKey:
    """A keyed hash of `value` for counting (scope "user" or "address"): no plain IP stored."""
    return throttle.ThrottleKey(scope, compute_blind_index(blind_index_key_from(ring), kind, value))


async def find_user_by_login(session: AsyncSession, ring: MasterKeyring, login: str) -> User | None:
    """The user a username or an email address names, if any."""
    login = login.strip()
    if "@" in login:
        person_id = await find_person_id_by_email(session, ring, login)
        statement = select(User).where(User.person_id == (person_id or ""))
    else:
        # A held username (`identity.claims`) names no one.
        statement = select(User).where(
            User.username == login.lower(), User.username_held.is_(False)
        )
    found: User | None = await session.scalar(statement)
    return found


def reset_link(settings: Settings, token: str) -> str:
    return f"{settings.base_url}/reset/{token}"


async def request_password_reset(
    session: AsyncSession,
    ring: MasterKeyring,
    settings: Settings,
    *,
    login: str,
    client_address: str | None,
) -> None:
    """Mail a reset link if `login` names an active user; the caller learns nothing either way."""
    if client_address:
        key = allowance_key(ring, "address", "reset_address", client_address)
        wait = await spend_allowance(
            session, key, limit=RESET_REQUESTS_PER_ADDRESS, window=ALLOWANCE_WINDOW
        )
        if wait is not None:
            # About the caller's address, never about the account: nothing to enumerate.
            raise TooManyRequests(
                "Too many reset requests from here.",
                code="reset_throttled",
                retry_after=wait,
            )
    user = await find_user_by_login(session, ring, login[:254])
    # The same count query runs for unknown logins, so both paths do comparable work.
    recent = await session.scalar(
        select(func.count(OneTimeToken.id)).where(
            OneTimeToken.user_id == (user.id if user is not None else ""),
            OneTimeToken.purpose == PURPOSE,
            OneTimeToken.created_at > utcnow() - ALLOWANCE_WINDOW,
        )
    )
    in_use = await account_in_use(session, user.account_id if user is not None else None)
    if user is None or user.status != "active" or user.person_id is None or not in_use:
        return
    if (recent or 0) >= RESET_MAILS_PER_USER:
        log.info("password_reset_mail_capped", user_id=user.id)
        return
    valid_for = timedelta(minutes=settings.password_reset_valid_minutes)
    token = await issue_one_time_token(session, user=user, purpose=PURPOSE, valid_for=valid_for)
    person = await read_person(session, ring, user.person_id)
    await send_identity_mail(
        session,
        ring,
        template="password_reset",
        to=person.email,
        account_id=user.account_id,
        username=user.username,
        link=reset_link(settings, token),
        valid_minutes=settings.password_reset_valid_minutes,
    )
    await record_event(
        session,
        actor=None,
        action="user.password_reset_request",
        account_id=user.account_id,
        target_type="user",
        target_id=user.id,
    )


async def reset_details(session: AsyncSession, token: str) -> User:
    """The user a live reset link belongs to (to show the new-password form)."""
    row = await peek_one_time_token(session, purpose=PURPOSE, token=token)
    user = await session.get(User, row.user_id)
    if (
        user is None
        or user.status != "active"
        or not await account_in_use(session, user.account_id)
    ):
        raise InvalidInput(
            "This link is not valid any more. Ask for a new one.", code="link_invalid"
        )
    return user


async def complete_password_reset(
    session: AsyncSession,
    ring: MasterKeyring,
    settings: Settings,
    *,
    token: str,
    new_password: str,
    context: RequestContext | None = None,
) -> User:
    """Set a new password through a reset link; every session and API token of the user ends.

    The second factor stays: a user who had one must still give it at the next sign-in.
    """
    user = await reset_details(session, token)
    # Policy first: a refused password leaves the link usable for a better one.
    await set_new_password(session, ring, settings, user, new_password)
    await consume_one_time_token(session, purpose=PURPOSE, token=token)
    user.must_change_password = False
    user.failed_signins = 0
    await throttle.clear(session, throttle.account_key(ring, user.id))
    email = ""
    if user.person_id is not None:
        email = (await read_person(session, ring, user.person_id)).email
    ended = await end_all_sessions(session, user.id)
    await session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    await record_event(
        session,
        actor=AuditActor(user.id, user.role.value),
        action="user.password_reset",
        account_id=user.account_id,
        target_type="user",
        target_id=user.id,
        details={"sessions_ended": ended},
    )
    await record_security_event(
        session, kind="password_reset", user_id=user.id, account_id=user.account_id, context=context
    )
    if email:
        await send_identity_mail(
            session,
            ring,
            template="password_changed",
            to=email,
            account_id=user.account_id,
            username=user.username,
            has_mfa=user.mfa_enabled_at is not None,
            reset_page=f"{settings.base_url}/reset",
        )
    await session.flush()
    return user
