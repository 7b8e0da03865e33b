"""Password hashing: argon2id with OWASP's parameters, in this one place (ASVS V11.4.2).

Changing a parameter here makes every stored hash "needs rehash"; sign-in rehashes it.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import ParamSpec, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.low_level import Type

ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_TIME_COST = 2
ARGON2_PARALLELISM = 1
ARGON2_HASH_BYTES = 32
ARGON2_SALT_BYTES = 16


_Params = ParamSpec("_Params")
_Result = TypeVar("_Result")


def _usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# One thread per core the process may use. argon2id is memory-hard (19 MiB a hash): more hashes
# at once than cores only evict each other's memory from the caches and slow every one, so
# under a burst of sign-ins they queue here instead, in arrival order. Threads start on demand.
_PASSWORD_WORKERS = ThreadPoolExecutor(
    max_workers=_usable_cores(), thread_name_prefix="amanat-password"
)


_in_pool = 0  # password jobs of this process queued or running in the pool


async def run_password_work(
    work: Callable[_Params, _Result], *args: _Params.args, **kwargs: _Params.kwargs
) -> _Result:
    """Run a hash or a verification (or a password check that hashes) off the event loop, in
    the per-core pool above; the caller's context (request id) goes along, as with
    `asyncio.to_thread`."""
    global _in_pool
    context = contextvars.copy_context()
    loop = asyncio.get_running_loop()
    _in_pool += 1
    try:
        return await loop.run_in_executor(
            _PASSWORD_WORKERS, lambda: context.run(work, *args, **kwargs)
        )
    finally:
        _in_pool -= 1


def password_pool_full(per_core: int) -> bool:
    """Whether `per_core` jobs per core are already queued or running: a new one would wait
    that many hash times (about 30 ms each) before it even starts. 0 means no bound."""
    return per_core > 0 and _in_pool >= per_core * _usable_cores()


@lru_cache(maxsize=1)
def password_hasher() -> PasswordHasher:
    """The process-wide argon2id hasher with the parameters above."""
    return PasswordHasher(
        time_cost=ARGON2_TIME_COST,
        memory_cost=ARGON2_MEMORY_KIB,
        parallelism=ARGON2_PARALLELISM,
        hash_len=ARGON2_HASH_BYTES,
        salt_len=ARGON2_SALT_BYTES,
        type=Type.ID,
    )


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Verified against when there is no real hash, so unknown, suspended and password-less
    # users cost the same time as real ones (no enumeration by timing).
    return password_hasher().hash("amanat dummy password for constant-time sign-in")


def hash_password(normalized_password: str) -> str:
    return password_hasher().hash(normalized_password)


def verify_password(stored_hash: str | None, normalized_password: str) -> tuple[bool, bool]:
    """(matches, needs_rehash). Always spends one argon2id verification."""
    hasher = password_hasher()
    try:
        matched = hasher.verify(stored_hash or _dummy_hash(), normalized_password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False, False
    if stored_hash is None:
        return False, False
    return matched, hasher.check_needs_rehash(stored_hash)
