"""Sign-in throttling per account, per client address, and overall (ASVS V2.4.1, V6.1.1).

Three counts of failures, each a keyed hash (no plain name or IP is stored):

- the account: keyed by the user's id, whatever name (username or email) reached it; a name
  that matches no user is keyed by the name itself, so unknown and known names are throttled
  alike (no enumeration). After a few failures each further attempt must wait a growing delay
  (1, 2, 4 … 60 s); at `signin_lock_failures` it is locked for `signin_lock_minutes`. While it
  waits or is locked, nothing is checked.
- the address: counted and delayed the same way (lock at `address_lock_failures`), but it never
  refuses a right password outright: while it waits, every attempt is still checked, and only
  a password that verifies for an account with no failures of its own gets in (many people
  share an address behind an office NAT or a mobile operator).
- the ceiling: every failed sign-in anywhere, without delays; at `global_lock_failures` it is
  locked, and meanwhile an address with failures on record is refused before any password is
  checked.

Counting starts afresh after a quiet lock period.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import Select, and_, bindparam, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.core.clock import utcnow
from amanat.core.crypto import MasterKeyring, blind_index_key_from, compute_blind_index
from amanat.core.settings import Settings
from amanat.identity.models import SigninThrottle

FREE_FAILURES = 3
MAX_DELAY_SECONDS = 60


@dataclass(frozen=True)
class ThrottleKey:
    scope: str  # "user" or "address" (the stored column)
    digest: bytes
    ceiling: bool = False  # the one count of all failures (stored as an "address" row)


@dataclass(frozen=True)
class ThrottleState:
    retry_after_seconds: int
    locked: bool


def account_key(ring: MasterKeyring, user_id: str) -> ThrottleKey:
    """The key of a user's account, however they were named (username or email)."""
    digest = compute_blind_index(blind_index_key_from(ring), "throttle_account", user_id)
    return ThrottleKey("user", digest)


def login_key(ring: MasterKeyring, login: str) -> ThrottleKey:
    """The key of a login name that matches no user (normalized: trimmed, case-folded)."""
    digest = compute_blind_index(
        blind_index_key_from(ring), "throttle_login", login.strip().casefold()
    )
    return ThrottleKey("user", digest)


def address_key(ring: MasterKeyring, address: str) -> ThrottleKey:
    digest = compute_blind_index(blind_index_key_from(ring), "throttle_address", address)
    return ThrottleKey("address", digest)


def ceiling_key(ring: MasterKeyring) -> ThrottleKey:
    """The key that counts every failed sign-in, from anywhere."""
    digest = compute_blind_index(blind_index_key_from(ring), "throttle_ceiling", "all")
    return ThrottleKey("address", digest, ceiling=True)


def _threshold(key: ThrottleKey, settings: Settings) -> int:
    if key.ceiling:
        return settings.global_lock_failures
    return settings.signin_lock_failures if key.scope == "user" else settings.address_lock_failures


def _delay_after(key: ThrottleKey, failures: int) -> timedelta:
    if key.ceiling or failures < FREE_FAILURES:
        return timedelta(0)
    return timedelta(seconds=min(2 ** (failures - FREE_FAILURES), MAX_DELAY_SECONDS))


@cache
def _rows_of_keys(count: int) -> Select[SigninThrottle]:
    # Built once per number of keys (one to three): on every sign-in, building a statement cost
    # more than running it. The values are bound at execution (scope_0, digest_0, ...).
    return select(SigninThrottle).where(
        or_(
            *(
                and_(
                    SigninThrottle.scope == bindparam(f"scope_{number}"),
                    SigninThrottle.key_hash == bindparam(f"digest_{number}"),
                )
                for number in range(count)
            )
        )
    )


_FORGET_KEY = delete(SigninThrottle).where(
    SigninThrottle.scope == bindparam("scope_0"), SigninThrottle.key_hash == bindparam("digest_0")
)


def _key_values(keys: list[ThrottleKey]) -> dict[str, object]:
    values: dict[str, object] = {}
    for number, key in enumerate(keys):
        values[f"scope_{number}"], values[f"digest_{number}"] = key.scope, key.digest
    return values


async def _row(session: AsyncSession, key: ThrottleKey) -> SigninThrottle | None:
    row: SigninThrottle | None = await session.scalar(_rows_of_keys(1), _key_values([key]))
    return row


@dataclass(frozen=True)
class ThrottleCheck:
    wait: ThrottleState | None  # how long the caller must wait, if any key says so
    counting: frozenset[ThrottleKey]  # the keys with failures on record
    waits: dict[ThrottleKey, ThrottleState] = field(default_factory=dict)  # each key's wait


async def check(
    session: AsyncSession,
    settings: Settings,
    keys: list[ThrottleKey],
    now: datetime | None = None,
) -> ThrottleCheck:
    """Whether the caller must wait before another attempt, and which keys count failures."""
    now = now or utcnow()
    if not keys:
        return ThrottleCheck(wait=None, counting=frozenset())
    rows = (await session.scalars(_rows_of_keys(len(keys)), _key_values(keys))).all()
    by_stored = {(row.scope, row.key_hash): row for row in rows}
    stale_before = now - 2 * timedelta(minutes=settings.signin_lock_minutes)
    by_key = {
        key: row
        for key in keys
        # Failures of a window long quiet are as good as forgotten (the next one starts afresh).
        if (row := by_stored.get((key.scope, key.digest))) is not None
        and row.window_started_at >= stale_before
    }
    waits: dict[ThrottleKey, ThrottleState] = {}
    for key, row in by_key.items():
        if row.locked_until is not None and row.locked_until > now:
            seconds = max(1, int((row.locked_until - now).total_seconds() + 0.999))
            waits[key] = ThrottleState(seconds, locked=row.failures >= _threshold(key, settings))
    wait = max(waits.values(), key=lambda state: state.retry_after_seconds) if waits else None
    return ThrottleCheck(wait=wait, counting=frozenset(by_key), waits=waits)


@dataclass(frozen=True)
class SigninGate:
    """What the throttle says about one sign-in step, before its secret is checked."""

    refuse: ThrottleState | None  # refused before anything is checked
    suspect: ThrottleState | None  # the address waits: only a clean account's right secret passes
    account_has_failures: bool


async def signin_gate(
    session: AsyncSession,
    settings: Settings,
    *,
    account: ThrottleKey,
    address: ThrottleKey | None,
    ceiling: ThrottleKey,
) -> SigninGate:
    """Apply the three counts (module docstring) to an attempt on `account` from `address`."""
    keys = [account, ceiling] + ([address] if address is not None else [])
    checked = await check(session, settings, keys)
    refuse = checked.waits.get(account)
    if refuse is None and address in checked.counting and ceiling in checked.waits:
        refuse = checked.waits[ceiling]
    suspect = checked.waits.get(address) if address is not None else None
    return SigninGate(
        refuse=refuse, suspect=suspect, account_has_failures=account in checked.counting
    )


async def blocked(
    session: AsyncSession,
    settings: Settings,
    keys: list[ThrottleKey],
    now: datetime | None = None,
) -> ThrottleState | None:
    """How long the caller must wait before another attempt, if any key says so."""
    return (await check(session, settings, keys, now)).wait


async def register_failure(
    session: AsyncSession,
    settings: Settings,
    keys: list[ThrottleKey],
    now: datetime | None = None,
) -> list[ThrottleKey]:
    """Count a failure against every key; return the keys this failure locked."""
    now = now or utcnow()
    newly_locked: list[ThrottleKey] = []
    lock_for = timedelta(minutes=settings.signin_lock_minutes)
    for key in keys:
        row = await _row(session, key)
        if row is None or now - row.window_started_at > lock_for + lock_for:
            if row is not None:
                await session.delete(row)
                await session.flush()
            row = SigninThrottle(
                scope=key.scope, key_hash=key.digest, failures=0, window_started_at=now
            )
            session.add(row)
        row.failures += 1
        if row.failures >= _threshold(key, settings):
            if row.failures == _threshold(key, settings):
                newly_locked.append(key)
            row.window_started_at = now
            row.locked_until = now + lock_for
        else:
            delay = _delay_after(key, row.failures)
            row.locked_until = now + delay if delay else None
    await session.flush()
    return newly_locked


async def clear(session: AsyncSession, key: ThrottleKey) -> None:
    """Forget a key's failures (after a successful sign-in, or an admin's unlock)."""
    await session.execute(_FORGET_KEY, _key_values([key]))
