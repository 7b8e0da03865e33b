"""Signing in: the password, then the second factor when the user has one.

Sign-in gives one answer, in comparable time, for unknown users, wrong passwords and
users who may not sign in (ASVS V6.3.8): nothing tells an attacker which it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.activity.service import RequestContext, record_security_event, record_sign_in
from amanat.audit.actors import AuditActor
from amanat.audit.records import record_event
from amanat.core.clock import utcnow
from amanat.core.crypto import MasterKeyring
from amanat.core.db import end_read_before_slow_work
from amanat.core.errors import Overloaded, TooManyRequests, Unauthenticated
from amanat.core.logging import get_logger
from amanat.core.settings import Settings
from amanat.identity import mfa, throttle
from amanat.identity.accounts import account_in_use
from amanat.identity.credentials import password_matches
from amanat.identity.hashing import hash_password, password_pool_full, run_password_work
from amanat.identity.mfa_enrolment import mfa_required
from amanat.identity.models import RecoveryCode, User, UserSession
from amanat.identity.not_me import alert_new_device
from amanat.identity.password_policy import is_on_common_list, normalize_password
from amanat.identity.reauthentication import report_lock
from amanat.identity.secrets_at_rest import open_secret
from amanat.identity.sessions import start_session
from amanat.people.blind_index import find_person_id_by_email

log = get_logger("amanat.identity")

SIGNIN_FAILED = "The username or password is incorrect."
MAX_CONSECUTIVE_FAILURES = 100  # NIST SP 800-63B: then the password itself is disabled


@dataclass(frozen=True)
class SigninOutcome:
    token: str
    session: UserSession
    user: User
    needs_second_factor: bool
    needs_mfa_enrolment: bool
    must_change_password: bool


# Built once: on every sign-in, building a statement cost more than running it.
_USER_BY_PERSON = select(User).where(User.person_id == bindparam("person_id"))
# A held username (`identity.claims`) signs no one in.
_USER_BY_USERNAME = select(User).where(
    User.username == bindparam("username"), User.username_held.is_(False)
)


async def _find_user(session: AsyncSession, ring: MasterKeyring, login: str) -> User | None:
    login = login.strip()
    if "@" in login:
        person_id = await find_person_id_by_email(session, ring, login)
        if person_id is None:
            return None
        found: User | None = await session.scalar(_USER_BY_PERSON, {"person_id": person_id})
        return found
    return await session.scalar(_USER_BY_USERNAME, {"username": login.lower()})


async def sign_in(
    session: AsyncSession,
    ring: MasterKeyring,
    settings: Settings,
    *,
    login: str,
    password: str,
    client_address: str | None,
    context: RequestContext | None = None,
) -> SigninOutcome:
    """Check a login and password; on success start a session (second factor may be owed).

    Each step is noted in the user's security history with the request `context`; a completed
    sign-in from an unseen device mails the person, except on their very first sign-in.
    """
    user = await _find_user(session, ring, login) if len(password) <= 1024 else None
    keys = _throttle_keys(ring, user, login, client_address)
    gate = await _gate(session, settings, keys, "Too many failed sign-ins.")
    # Past capacity a sign-in is refused at once (503, `Retry-After`) rather than queued behind
    # seconds of hashing; the same for every login, known or not.
    if password_pool_full(settings.signin_queue_per_core):
        raise Overloaded("Too many sign-ins at once right now.")
    # The hash takes tens of milliseconds: hold no lock meanwhile, and let other requests run.
    await end_read_before_slow_work(session)
    matched, needs_rehash = await run_password_work(password_matches, user, password[:1024])
    # Asked for unknown users too (of no account), so every path does the same work.
    in_use = await account_in_use(session, user.account_id if user is not None else None)
    may_sign_in = (
        user is not None
        and user.status == "active"
        and in_use
        and user.failed_signins < MAX_CONSECUTIVE_FAILURES
    )
    # From an address over its limit, only an account with no failures of its own gets in.
    passes = matched and may_sign_in and not (gate.suspect and gate.account_has_failures)
    if not passes or user is None:
        await _failed(session, ring, settings, keys, user, kind="signin", context=context)
        _refuse_if_suspect(gate, "Too many failed sign-ins.")
        raise Unauthenticated(SIGNIN_FAILED, code="signin_failed", keep_changes=True)

    if gate.account_has_failures:
        # Only an account with failures on record has any to forget. One recorded while this
        # sign-in hashed stays counted: it did happen.
        await throttle.clear(session, keys[0])
    if needs_rehash:
        user.password_hash = await run_password_work(hash_password, normalize_password(password))
    if is_on_common_list(normalize_password(password)):
        # Evidence of compromise: the password is on the (grown) common list (V6.2.10).
        user.must_change_password = True
    user.failed_signins = 0
    first_sign_in = user.last_signin_at is None
    user.last_signin_at = utcnow()
    has_factor = user.mfa_enabled_at is not None
    stage = "mfa_pending" if has_factor else "active"
    token, row = await start_session(session, settings, user=user, stage=stage)
    await record_event(
        session,
        actor=AuditActor(user.id, user.role.value),
        action="signin.password",
        account_id=user.account_id,
        target_type="user",
        target_id=user.id,
    )
    record = await record_sign_in(
        session,
        kind="signin",
        user_id=user.id,
        account_id=user.account_id,
        context=context,
        session_id=row.id,
        complete=not has_factor,
        first_sign_in=first_sign_in,
        alerts_per_hour=settings.activity_new_device_mails_per_hour,
    )
    if record.alert and context is not None:
        await alert_new_device(session, ring, settings, user=user, context=context)
    return SigninOutcome(
        token=token,
        session=row,
        user=user,
        needs_second_factor=has_factor,
        needs_mfa_enrolment=not has_factor and await mfa_required(session, user),
        must_change_password=user.must_change_password,
    )


def _throttle_keys(
    ring: MasterKeyring, user: User | None, login: str, client_address: str | None
) -> list[throttle.ThrottleKey]:
    """The account's key first (by user id; by the name when it matches no user), then the
    ceiling, then the address's."""
    account = (
        throttle.account_key(ring, user.id) if user is not None else throttle.login_key(ring, login)
    )
    keys = [account, throttle.ceiling_key(ring)]
    if client_address:
        keys.append(throttle.address_key(ring, client_address))
    return keys


async def _gate(
    session: AsyncSession, settings: Settings, keys: list[throttle.ThrottleKey], what: str
) -> throttle.SigninGate:
    """The throttle's word on this attempt; a refusal before anything is checked is a 429."""
    gate = await throttle.signin_gate(
        session,
        settings,
        account=keys[0],
        ceiling=keys[1],
        address=keys[2] if len(keys) > 2 else None,
    )
    if (wait := gate.refuse) is not None:
        raise TooManyRequests(what, code="signin_throttled", retry_after=wait.retry_after_seconds)
    return gate


def _refuse_if_suspect(gate: throttle.SigninGate, what: str) -> None:
    """From an address over its limit, every refused attempt is a 429 (never a 401 that would
    tell a wrong secret from a right one refused), and still counts."""
    if (wait := gate.suspect) is not None:
        raise TooManyRequests(
            what, code="signin_throttled", retry_after=wait.retry_after_seconds, keep_changes=True
        )


async def _failed(
    session: AsyncSession,
    ring: MasterKeyring,
    settings: Settings,
    keys: list[throttle.ThrottleKey],
    user: User | None,
    *,
    kind: Literal["signin", "mfa"],
    context: RequestContext | None,
) -> None:
    locked = await throttle.register_failure(session, settings, keys)
    log.info("signin_failed", user_id=user.id if user else None)
    if keys[1] in locked:
        log.warning("signin_ceiling_reached", failures=settings.global_lock_failures)
    if user is None:
        return
    user.failed_signins += 1
    if user.status != "erased":
        await record_security_event(
            session,
            kind=kind,
            outcome="failure",
            user_id=user.id,
            account_id=user.account_id,
            context=context,
        )
    if keys[0] in locked:
        await report_lock(session, ring, settings, user, context=context)


async def complete_second_factor(
    session: AsyncSession,
    ring: MasterKeyring,
    settings: Settings,
    *,
    session_row: UserSession,
    user: User,
    code: str,
    client_address: str | None,
    context: RequestContext | None = None,
) -> tuple[str, UserSession]:
    """Finish a sign-in with a TOTP or recovery code; the session token is replaced (V7.2.4)."""
    keys = _throttle_keys(ring, user, user.username, client_address)
    # The account's waits and lock, and the ceiling, hold here too. An address over its limit
    # does not: this person has just given the right password, and guessing codes is held by
    # the account's count (a code refused after the check would use up a recovery code).
    await _gate(session, settings, keys, "Too many failed attempts.")
    verdict = await _second_factor_matches(session, ring, user, code)
    if verdict != "ok":
        await _failed(session, ring, settings, keys, user, kind="mfa", context=context)
        if verdict == "reused":
            # A replayed code counts as a failure too: only its wording differs.
            raise Unauthenticated(mfa.TOTP_REUSED_MESSAGE, code="totp_reused", keep_changes=True)
        raise Unauthenticated("That code is not right.", code="mfa_failed", keep_changes=True)
    await session.delete(session_row)
    token, row = await start_session(session, settings, user=user, stage="active")
    await record_event(
        session,
        actor=AuditActor(user.id, user.role.value),
        action="signin.second_factor",
        account_id=user.account_id,
        target_type="user",
        target_id=user.id,
    )
    record = await record_sign_in(
        session,
        kind="mfa",
        user_id=user.id,
        account_id=user.account_id,
        context=context,
        session_id=row.id,
        complete=True,
        alerts_per_hour=settings.activity_new_device_mails_per_hour,
    )
    if record.alert and context is not None:
        await alert_new_device(session, ring, settings, user=user, context=context)
    return token, row


async def _second_factor_matches(
    session: AsyncSession, ring: MasterKeyring, user: User, code: str
) -> Literal["ok", "wrong", "reused"]:
    # By the code's form, not its count of digits: a recovery code may hold six digits too.
    if user.totp_secret is not None and mfa.is_totp_shaped(code):
        secret = open_secret(ring, user_id=user.id, column="totp_secret", sealed=user.totp_secret)
        step = mfa.verify_totp(secret, code, last_used_step=user.totp_last_step)
        if step is not None:
            user.totp_last_step = step
            return "ok"
        if mfa.totp_code_reused(secret, code, last_used_step=user.totp_last_step):
            return "reused"
        return "wrong"
    unused = (
        await session.scalars(
            select(RecoveryCode).where(
                RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
            )
        )
    ).all()
    index = mfa.find_recovery_code(code, [row.code_hash for row in unused])
    if index is None:
        return "wrong"
    unused[index].used_at = utcnow()
    return "ok"
