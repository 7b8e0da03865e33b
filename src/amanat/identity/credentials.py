"""Passwords: the policy check with the person's context, hashing, and changes (ASVS V6.2)."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession

from amanat.core.clock import utcnow
from amanat.core.crypto import MasterKeyring
from amanat.core.errors import InvalidInput
from amanat.core.settings import Settings
from amanat.identity.hashing import hash_password, run_password_work, verify_password
from amanat.identity.models import CustomerAccount, User
from amanat.identity.password_policy import (
    PasswordContext,
    PasswordProblem,
    check_new_password,
    estimate_strength,
    normalize_password,
)
from amanat.people.personal_data import read_person

SAME_AS_CURRENT_MESSAGE = (
    "The new password is the same as the current one. Choose a password you have not used here."
)


async def password_context(
    session: AsyncSession, ring: MasterKeyring, user: User
) -> PasswordContext:
    """The words a password must not contain: username, name, email, account name."""
    account = await session.get(CustomerAccount, user.account_id)
    full_name = email = ""
    if user.person_id is not None:
        person = await read_person(session, ring, user.person_id)
        full_name, email = person.full_name, person.email
    return PasswordContext(
        username=user.username,
        email=email,
        full_name=full_name,
        account_name=account.name if account else "",
        has_mfa=user.mfa_enabled_at is not None,
    )


async def password_problems(
    password: str, context: PasswordContext, settings: Settings
) -> list[PasswordProblem]:
    """Every reason the policy refuses `password`: the one rule set of setting a password and
    of the strength meter's verdict (`POST /api/v1/password-strength`)."""
    # zxcvbn is CPU-bound and can take a while on crafted input: keep it off the event loop.
    return await asyncio.to_thread(
        check_new_password,
        password,
        context,
        min_length_with_mfa=settings.min_password_length_with_mfa,
    )


async def set_new_password(
    session: AsyncSession, ring: MasterKeyring, settings: Settings, user: User, password: str
) -> None:
    """Check the new password against the policy and store its argon2id hash; the current
    password, if any, is refused as the new one (`password_unchanged`)."""
    context = await password_context(session, ring, user)
    problems = await password_problems(password, context, settings)
    if user.password_hash is not None:
        # One argon2id verification: the new password must not be the one it replaces (a
        # forced change, or one after a leak, must really change it).
        unchanged, _ = await run_password_work(password_matches, user, password)
        if unchanged:
            raise InvalidInput(
                SAME_AS_CURRENT_MESSAGE,
                code="password_unchanged",
                field="new_password",
                problems=[{"code": "password_unchanged", "message": SAME_AS_CURRENT_MESSAGE}],
            )
    if problems:
        raise InvalidInput(
            problems[0].message,
            code="password_rejected",
            problems=[{"code": p.code, "message": p.message} for p in problems],
        )
    user.password_hash = await run_password_work(hash_password, normalize_password(password))
    user.password_strength = (await asyncio.to_thread(estimate_strength, password, context)).score
    user.password_changed_at = utcnow()
    user.must_change_password = False
    user.failed_signins = 0
    user.updated_at = utcnow()
    await session.flush()


def password_matches(user: User | None, password: str) -> tuple[bool, bool]:
    """(matches, needs_rehash) — one argon2id verification whatever the user's state."""
    stored = user.password_hash if user is not None else None
    return verify_password(stored, normalize_password(password))
