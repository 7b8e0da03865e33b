"""Password hashing: argon2id with OWASP's parameters, in this one place (ASVS V11.4.2).

Changing a parameter here makes every stored hash "needs rehash"; sign-in rehashes it.
"""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.low_level import Type

ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_TIME_COST = 2
ARGON2_PARALLELISM = 1
ARGON2_HASH_BYTES = 32
ARGON2_SALT_BYTES = 16


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
