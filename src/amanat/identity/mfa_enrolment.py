"""Second-factor enrolment: who must have a second factor, and setting up TOTP with its
recovery codes (ASVS V6.5). The codes themselves are made and checked by `amanat.identity.mfa`."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.access.roles import ROLES_THAT_ALWAYS_NEED_MFA, Role
from amanat.activity.service import RequestContext, record_security_event
from amanat.audit.actors import AuditActor
from amanat.audit.records import record_event
from amanat.core.clock import utcnow
from amanat.core.crypto import MasterKeyring
from amanat.core.errors import InvalidInput
from amanat.core.ids import new_id
from amanat.identity import mfa
from amanat.identity.models import CustomerAccount, RecoveryCode, User
from amanat.identity.secrets_at_rest import open_secret, seal_secret
from amanat.identity.sessions import end_all_sessions


async def mfa_required(session: AsyncSession, user: User) -> bool:
    """Staff and account admins always; members when their account says so (default on)."""
    if user.role in ROLES_THAT_ALWAYS_NEED_MFA:
        return True
    account = await session.get(CustomerAccount, user.account_id)
    return bool(account is None or account.members_need_mfa)


def is_staff_or_admin(role: Role) -> bool:
    return role in ROLES_THAT_ALWAYS_NEED_MFA


@dataclass(frozen=True)
class TotpEnrolment:
    secret: str
    uri: str
    qr_data_uri: str


async def start_totp_enrolment(
    session: AsyncSession, ring: MasterKeyring, *, user: User
) -> TotpEnrolment:
    """A new seed, kept sealed on the user until a first code proves the app has it."""
    if user.mfa_enabled_at is not None:
        raise InvalidInput("A second factor is already set up.", code="mfa_already_enabled")
    secret = mfa.new_totp_secret()
    user.totp_secret = seal_secret(ring, user_id=user.id, column="totp_secret", secret=secret)
    user.totp_last_step = None
    await session.flush()
    uri = mfa.provisioning_uri(secret, account_label=user.username)
    return TotpEnrolment(secret=secret, uri=uri, qr_data_uri=mfa.qr_code_data_uri(uri))


async def pending_totp_enrolment(ring: MasterKeyring, user: User) -> TotpEnrolment | None:
    if user.totp_secret is None or user.mfa_enabled_at is not None:
        return None
    secret = open_secret(ring, user_id=user.id, column="totp_secret", sealed=user.totp_secret)
    uri = mfa.provisioning_uri(secret, account_label=user.username)
    return TotpEnrolment(secret=secret, uri=uri, qr_data_uri=mfa.qr_code_data_uri(uri))


async def confirm_totp_enrolment(
    session: AsyncSession,
    ring: MasterKeyring,
    *,
    user: User,
    code: str,
    session_id: str,
    context: RequestContext | None = None,
) -> list[str]:
    """Turn MFA on with a first valid code; returns the 10 recovery codes, shown once."""
    if user.totp_secret is None or user.mfa_enabled_at is not None:
        raise InvalidInput("Start the set-up again.", code="mfa_enrolment_missing")
    secret = open_secret(ring, user_id=user.id, column="totp_secret", sealed=user.totp_secret)
    step = mfa.verify_totp(secret, code, last_used_step=user.totp_last_step)
    if step is None:
        if mfa.totp_code_reused(secret, code, last_used_step=user.totp_last_step):
            raise InvalidInput(mfa.TOTP_REUSED_MESSAGE, code="totp_reused", field="code")
        raise InvalidInput(
            "That code is not right. Check the time on your device.",
            code="mfa_code_wrong",
            field="code",
        )
    user.totp_last_step = step
    user.mfa_enabled_at = utcnow()
    codes = await store_new_recovery_codes(session, user)
    # A factor change ends the other sessions (ASVS V7.4.3).
    await end_all_sessions(session, user.id, keep_session_id=session_id)
    await note_factor_change(session, user, "user.mfa_enable", session_id, context)
    await session.flush()
    return codes


async def store_new_recovery_codes(session: AsyncSession, user: User) -> list[str]:
    """A fresh set of recovery codes in place of any earlier ones; the clear codes are returned
    once, to be shown, and only their hashes are kept."""
    codes = mfa.new_recovery_codes()
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    for code_text in codes:
        session.add(
            RecoveryCode(
                id=new_id(),
                account_id=user.account_id,
                user_id=user.id,
                code_hash=mfa.hash_recovery_code(code_text),
            )
        )
    return codes


async def note_factor_change(
    session: AsyncSession,
    user: User,
    action: str,
    session_id: str | None,
    context: RequestContext | None,
) -> None:
    """Audit a change of the user's own second factor, and put it in their security history."""
    await record_event(
        session,
        actor=AuditActor(user.id, user.role.value),
        action=action,
        account_id=user.account_id,
        target_type="user",
        target_id=user.id,
    )
    await record_security_event(
        session,
        kind="mfa_change",
        user_id=user.id,
        account_id=user.account_id,
        context=context,
        session_id=session_id,
    )
