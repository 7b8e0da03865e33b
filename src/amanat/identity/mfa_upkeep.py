"""Keeping a second factor in order: how many recovery codes are left, new ones, and replacing
the authenticator app (ASVS V6.5, V7.5.1).

Both changes ask for the password and a current second factor (TOTP or an unused recovery
code) first: a session left open on a shared computer must not be enough to take over the
factor. Wrong answers count with the user's sign-in failures (same key, same lock). The new
authenticator's seed waits, sealed on the session row, until a code from the new app proves it;
only then does it replace the old one, which stops working at that moment.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.activity.service import RequestContext
from amanat.core.clock import UTC, utcnow
from amanat.core.crypto import MasterKeyring
from amanat.core.errors import InvalidInput, TooManyRequests
from amanat.core.settings import Settings
from amanat.identity import mfa, throttle
from amanat.identity.mail import send_identity_mail
from amanat.identity.mfa_enrolment import (
    TotpEnrolment,
    note_factor_change,
    store_new_recovery_codes,
)
from amanat.identity.models import RecoveryCode, User, UserSession
from amanat.identity.reauthentication import check_current_password, report_lock
from amanat.identity.secrets_at_rest import open_secret, seal_secret
from amanat.identity.sessions import end_all_sessions
from amanat.identity.shown_once import keep_to_show, peek_to_show, take_to_show
from amanat.people.personal_data import read_person

NEW_AUTHENTICATOR = "new_authenticator"
NEW_RECOVERY_CODES = "recovery_codes"


async def recovery_codes_left(session: AsyncSession, user: User) -> int:
    """How many of the user's recovery codes are still unused."""
    count = await session.scalar(
        select(func.count(RecoveryCode.id)).where(
            RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
        )
    )
    return int(count or 0)


def _require_factor(user: User) -> None:
    if user.mfa_enabled_at is None or user.totp_secret is None:
        raise InvalidInput("Set up a second factor first.", code="mfa_not_enabled")


async def _second_factor_right(
    session: AsyncSession, ring: MasterKeyring, user: User, code: str
) -> bool:
    """A current TOTP code (used up, as at sign-in) or an unused recovery code (marked used)."""
    if user.totp_secret is not None and mfa.is_totp_shaped(code):
        secret = open_secret(ring, user_id=user.id, column="totp_secret", sealed=user.totp_secret)
        step = mfa.verify_totp(secret, code, last_used_step=user.totp_last_step)
        if step is None:
            return False
        user.totp_last_step = step
        return True
    unused = (
        await session.scalars(
            select(RecoveryCode).where(
                RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
            )
        )
    ).all()
    index = mfa.find_recovery_code(code, [row.code_hash for row in unused])
    if index is None:
        return False
    unused[index].used_at = utcnow()
    return True


async def reauthenticate(
    session: AsyncSession,
    ring: MasterKeyring,
    settings: Settings,
    *,
    user: User,
    password: str,
    code: str,
    context: RequestContext | None,
) -> None:
    """Refuse unless the password and a second factor are right; failures count as sign-in
    failures of the user (the caller must keep the changes of a refusal)."""
    _require_factor(user)
    await check_current_password(session, ring, settings, user, password, context=context)
    if await _second_factor_right(session, ring, user, code):
        return
    key = throttle.account_key(ring, user.id)
    locked = await throttle.register_failure(session, settings, [key])
    if key in locked:
        await report_lock(session, ring, settings, user, context=context)
        raise TooManyRequests(
            "Too many wrong answers.",
            code="reauthentication_throttled",
            retry_after=settings.signin_lock_minutes * 60,
            keep_changes=True,
        )
    raise InvalidInput(
        "That code is not right.", code="mfa_failed", field="code", keep_changes=True
    )


async def _tell(
    session: AsyncSession, ring: MasterKeyring, user: User, template: str, **context: object
) -> None:
    if user.person_id is None:
        return
    person = await read_person(session, ring, user.person_id)
    await send_identity_mail(
        session,
        ring,
        template=template,
        to=person.email,
        account_id=user.account_id,
        username=user.username,
        time=utcnow().astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
        **context,
    )


async def regenerate_recovery_codes(
    session: AsyncSession,
    ring: MasterKeyring,
    settings: Settings,
    *,
    user: User,
    password: str,
    code: str,
    session_id: str | None,
    context: RequestContext | None,
) -> list[str]:
    """Ten new recovery codes (shown once by the caller); every older one stops working."""
    await reauthenticate(
        session, ring, settings, user=user, password=password, code=code, context=context
    )
    codes = await store_new_recovery_codes(session, user)
    await note_factor_change(
        session, user, "user.mfa_recovery_codes_regenerate", session_id, context
    )
    await _tell(session, ring, user, "recovery_codes_new", count=len(codes))
    await session.flush()
    return codes


def _enrolment(user: User, secret: str) -> TotpEnrolment:
    uri = mfa.provisioning_uri(secret, account_label=user.username)
    return TotpEnrolment(secret=secret, uri=uri, qr_data_uri=mfa.qr_code_data_uri(uri))


async def start_replacement(
    session: AsyncSession,
    ring: MasterKeyring,
    settings: Settings,
    *,
    user: User,
    row: UserSession,
    password: str,
    code: str,
    context: RequestContext | None,
) -> TotpEnrolment:
    """After re-authentication, a new seed waits on this session row; the old one still works."""
    await reauthenticate(
        session, ring, settings, user=user, password=password, code=code, context=context
    )
    secret = mfa.new_totp_secret()
    keep_to_show(ring, row, NEW_AUTHENTICATOR, {"secret": secret})
    return _enrolment(user, secret)


def pending_replacement(ring: MasterKeyring, user: User, row: UserSession) -> TotpEnrolment | None:
    """The new authenticator waiting for its first code on this session, if any."""
    kept = peek_to_show(ring, row, NEW_AUTHENTICATOR)
    return None if kept is None else _enrolment(user, str(kept.values["secret"]))


async def confirm_replacement(
    session: AsyncSession,
    ring: MasterKeyring,
    *,
    user: User,
    row: UserSession,
    code: str,
    context: RequestContext | None,
) -> None:
    """A code from the new app: the new seed replaces the old one, other sessions end, the
    person is mailed."""
    kept = peek_to_show(ring, row, NEW_AUTHENTICATOR)
    if kept is None:
        raise InvalidInput("Start the replacement again.", code="mfa_replacement_missing")
    secret = str(kept.values["secret"])
    step = mfa.verify_totp(secret, code, last_used_step=None)
    if step is None:
        raise InvalidInput(
            "That code is not right. Check the time on your device.",
            code="mfa_code_wrong",
            field="code",
        )
    take_to_show(ring, row, NEW_AUTHENTICATOR)
    user.totp_secret = seal_secret(ring, user_id=user.id, column="totp_secret", secret=secret)
    user.totp_last_step = step
    user.mfa_enabled_at = utcnow()
    # A factor change ends the other sessions (ASVS V7.4.3).
    await end_all_sessions(session, user.id, keep_session_id=row.id)
    await note_factor_change(session, user, "user.mfa_replace", row.id, context)
    await _tell(session, ring, user, "authenticator_replaced")
    await session.flush()
