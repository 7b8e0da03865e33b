"""Sign-in throttling per login name and per client address (ASVS V2.4.1, V6.1.1).

After a few failures each further attempt must wait a growing delay (1, 2, 4 … 60 s); at the
threshold the key is locked for `signin_lock_minutes`. Keys are keyed hashes of the login
text and of the address, so unknown and known usernames are throttled alike (no enumeration)
and no plain IP is stored. Counting starts afresh after a quiet lock period.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    scope: str  # "user" or "address"
    digest: bytes


@dataclass(frozen=True)
class ThrottleState:
    retry_after_seconds: int
    locked: bool


def login_key(ring: MasterKeyring, login: str) -> ThrottleKey:
    digest = compute_blind_index(blind_index_key_from(ring), "throttle_login", login.casefold())
    return ThrottleKey("user", digest)


def address_key(ring: MasterKeyring, address: str) -> ThrottleKey:
    digest = compute_blind_index(blind_index_key_from(ring), "throttle_address", address)
    return ThrottleKey("address", digest)


def _threshold(key: ThrottleKey, settings: Settings) -> int:
    return settings.signin_lock_failures if key.scope == "user" else settings.address_lock_failures


def _delay_after(failures: int) -> timedelta:
    if failures < FREE_FAILURES:
        return timedelta(0)
    return timedelta(seconds=min(2 ** (failures - FREE_FAILURES), MAX_DELAY_SECONDS))


@cache
def _rows_of_keys(count: int) -> Select[SigninThrottle]:
    # Built once per number of keys (one or two): on every sign-in, building a statement cost
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
    by_key = {ThrottleKey(row.scope, row.key_hash): row for row in rows}
    waits: list[ThrottleState] = []
    for key, row in by_key.items():
        if row.locked_until is not None and row.locked_until > now:
            seconds = max(1, int((row.locked_until - now).total_seconds() + 0.999))
            waits.append(ThrottleState(seconds, locked=row.failures >= _threshold(key, settings)))
    wait = max(waits, key=lambda state: state.retry_after_seconds) if waits else None
    return ThrottleCheck(wait=wait, counting=frozenset(by_key))


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
            delay = _delay_after(row.failures)
            row.locked_until = now + delay if delay else None
    await session.flush()
    return newly_locked


async def clear(session: AsyncSession, key: ThrottleKey) -> None:
    """Forget a key's failures (after a successful sign-in, or an admin's unlock)."""
    await session.execute(_FORGET_KEY, _key_values([key]))
