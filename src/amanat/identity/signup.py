"""Sign-up: a person creates a customer account and becomes its owner (policy §3 account
creation). The account is usable once the email address is confirmed by a one-time link.

No account enumeration (ASVS V6.3.8): an email address already in use gets the same answer as
a new one; only its owner's mailbox learns of the attempt. Usernames are different: they are
login ids, not personal data, and a person must be able to pick a free one, so a taken
username is refused openly (409 `username_taken`). Sign-ups are counted per client address
(V2.4.1). The operator can switch sign-up off (`signup_enabled`).

Phone, CNIC and postal address are optional unless the operator requires them
(`require_identity_fields`), as for an invitation. A CNIC already registered is treated like an
email address in use: the same answer, nothing stored, and only the CNIC's holder is told (a
refusal would tell anyone whether a national identity number is registered here).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.access.roles import Role
from amanat.audit.actors import AuditActor
from amanat.audit.records import record_event
from amanat.core.clock import utcnow
from amanat.core.crypto import MasterKeyring
from amanat.core.errors import Conflict, InvalidInput, NotFound, TooManyRequests
from amanat.core.ids import new_id
from amanat.core.settings import Settings
from amanat.identity.accounts import account_in_use
from amanat.identity.claims import WARNINGS_PER_VALUE, warn_holder
from amanat.identity.credentials import set_new_password
from amanat.identity.hashing import hash_password, run_password_work
from amanat.identity.mail import send_identity_mail
from amanat.identity.models import CustomerAccount, User
from amanat.identity.password_policy import (
    PasswordContext,
    check_new_password,
    estimate_strength,
    normalize_password,
)
from amanat.identity.recovery import ALLOWANCE_WINDOW, allowance_key, spend_allowance
from amanat.identity.tokens import consume_one_time_token, issue_one_time_token, peek_one_time_token
from amanat.identity.users import normalize_username
from amanat.people.blind_index import (
    cnic_index,
    email_index,
    find_person_id_by_cnic,
    find_person_id_by_email,
)
from amanat.people.registry import PersonEntry, create_person, validate_person_entry
from amanat.people.validation import normalize_email, normalize_full_name

SIGNUP_ACCEPTED = (
    "Check your email: we have sent a link to confirm your address. The account is ready "
    "once the address is confirmed."
)


PURPOSE = "email_verification"
VERIFICATION_VALID_FOR = timedelta(hours=24)
SIGNUPS_PER_ADDRESS = 5  # per hour
# Warnings to the holder of an address or CNIC, shared with the admins' doors (`claims`).
WARNINGS_PER_EMAIL = WARNINGS_PER_VALUE


def require_signup_enabled(settings: Settings) -> None:
    """Sign-up switched off looks like no sign-up at all."""
    if not settings.signup_enabled:
        raise NotFound("Sign-up is not available here.", code="signup_disabled")


def _account_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not 1 <= len(cleaned) <= 200:
        raise InvalidInput(
            "Account name must be 1 to 200 characters.",
            code="invalid_account_name",
            field="account_name",
        )
    return cleaned


def verification_link(settings: Settings, token: str) -> str:
    return f"{settings.base_url}/verify/{token}"


def _password_work(password: str, context: PasswordContext, settings: Settings) -> list[str]:
    """The policy check, the strength estimate and the hash: what storing a password costs."""
    problems = check_new_password(
        password, context, min_length_with_mfa=settings.min_password_length_with_mfa
    )
    estimate_strength(password, context)
    hash_password(normalize_password(password))
    return [problem.code for problem in problems]


async def sign_up(
    session: AsyncSession,
    ring: MasterKeyring,
    settings: Settings,
    *,
    account_name: str,
    username: str,
    full_name: str,
    email: str,
    password: str,
    client_address: str | None,
    phone: str | None = None,
    cnic: str | None = None,
    address: Mapping[str, object] | None = None,
) -> None:
    """Create a pending account and its owner, and mail a confirmation link.

    Returns nothing, and the same nothing when the email address or the CNIC is already in use.
    """
    require_signup_enabled(settings)
    name = _account_name(account_name)
    login = normalize_username(username)
    person_name = normalize_full_name(full_name)
    mailbox = normalize_email(email)
    entry = PersonEntry(
        full_name=person_name, email=mailbox, phone=phone, cnic=cnic, address=address
    )
    # Every field's rule and the operator's required fields, before anything is counted.
    validate_person_entry(entry, required=settings.require_identity_fields)
    if client_address:
        key = allowance_key(ring, "address", "signup_address", client_address)
        wait = await spend_allowance(
            session, key, limit=SIGNUPS_PER_ADDRESS, window=ALLOWANCE_WINDOW
        )
        if wait is not None:
            raise TooManyRequests(
                "Too many sign-ups from here.",
                code="signup_throttled",
                retry_after=wait,
            )
    context = PasswordContext(
        username=login, email=mailbox, full_name=person_name, account_name=name, has_mfa=False
    )
    # Checked before anything is stored, and for taken addresses too (same answer for both).
    problems = await asyncio.to_thread(
        check_new_password,
        password,
        context,
        min_length_with_mfa=settings.min_password_length_with_mfa,
    )
    if problems:
        raise InvalidInput(
            problems[0].message,
            code="password_rejected",
            problems=[{"code": p.code, "message": p.message} for p in problems],
            keep_changes=True,  # the attempt still counts against the address
        )
    # A held username (`identity.claims`) is nobody's login: it blocks no one.
    taken = select(User.id).where(User.username == login, User.username_held.is_(False))
    if await session.scalar(taken):
        raise Conflict(
            "This username is already taken. Choose another.",
            code="username_taken",
            field="username",
            keep_changes=True,
        )
    holder = await _holder_of(session, ring, entry)
    if holder is not None:
        await warn_holder(session, ring, settings, *holder)
        # Storing a password costs an argon2 hash; pay it here too, so timing tells nothing.
        await run_password_work(_password_work, password, context, settings)
        return
    async with session.begin_nested():
        await _create_pending_account(
            session,
            ring,
            settings,
            account_name=name,
            username=login,
            entry=entry,
            password=password,
        )


async def _holder_of(
    session: AsyncSession, ring: MasterKeyring, entry: PersonEntry
) -> tuple[str, str, bytes] | None:
    """Who already holds the entry's email address or CNIC: their person id, the mail to tell
    them, and the blind index the warnings to them are counted by; None when nobody does."""
    person_id = await find_person_id_by_email(session, ring, entry.email)
    if person_id is not None:
        return person_id, "signup_attempt", email_index(ring, entry.email)
    if entry.cnic is not None and entry.cnic.strip():
        person_id = await find_person_id_by_cnic(session, ring, entry.cnic)
        if person_id is not None:
            return person_id, "signup_attempt_cnic", cnic_index(ring, entry.cnic)
    return None


async def _create_pending_account(
    session: AsyncSession,
    ring: MasterKeyring,
    settings: Settings,
    *,
    account_name: str,
    username: str,
    entry: PersonEntry,
    password: str,
) -> None:
    now = utcnow()
    account = CustomerAccount(
        id=new_id(),
        kind="customer",
        name=account_name,
        status="pending_verification",
        members_need_mfa=True,
        created_at=now,
    )
    session.add(account)
    await session.flush()
    person = await create_person(
        session,
        ring,
        account_id=account.id,
        full_name=entry.full_name,
        email=entry.email,
        phone=entry.phone,
        cnic=entry.cnic,
        address=entry.address,
        required=settings.require_identity_fields,
    )
    # "invited" until the address is confirmed: sign-in refuses it like any wrong password.
    user = User(
        id=new_id(),
        account_id=account.id,
        username=username,
        role=Role.OWNER,
        status="invited",
        person_id=person.id,
        must_change_password=False,
        failed_signins=0,
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    await session.flush()
    await set_new_password(session, ring, settings, user, password)
    token = await issue_one_time_token(
        session, user=user, purpose=PURPOSE, valid_for=VERIFICATION_VALID_FOR
    )
    await send_identity_mail(
        session,
        ring,
        template="verify_email",
        to=person.email,
        account_id=account.id,
        account_name=account.name,
        username=username,
        link=verification_link(settings, token),
        valid_hours=int(VERIFICATION_VALID_FOR.total_seconds() // 3600),
    )
    await record_event(
        session,
        actor=AuditActor(user.id, user.role.value),
        action="account.signup",
        account_id=account.id,
        target_type="account",
        target_id=account.id,
    )


async def verification_details(session: AsyncSession, token: str) -> User:
    """The not yet confirmed owner a live verification link belongs to."""
    row = await peek_one_time_token(session, purpose=PURPOSE, token=token)
    user = await session.get(User, row.user_id)
    # A suspended sign-up is not confirmed into use: the link waits for a reactivation.
    if (
        user is None
        or user.status != "invited"
        or not await account_in_use(session, user.account_id)
    ):
        raise InvalidInput("This link is not valid any more.", code="link_invalid")
    return user


async def verify_email(session: AsyncSession, *, token: str) -> User:
    """Confirm the address: the owner and the account become active; the link is used up."""
    user = await verification_details(session, token)
    await consume_one_time_token(session, purpose=PURPOSE, token=token)
    user.status = "active"
    user.updated_at = utcnow()
    account = await session.get(CustomerAccount, user.account_id)
    if account is not None and account.status == "pending_verification":
        account.status = "active"
    await record_event(
        session,
        actor=AuditActor(user.id, user.role.value),
        action="account.verified",
        account_id=user.account_id,
        target_type="account",
        target_id=user.account_id,
    )
    await session.flush()
    return user
