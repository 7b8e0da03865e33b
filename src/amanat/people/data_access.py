"""Who looked at my data: a person's own list of the reveals of their personal data
(policy §4; ASVS V8.2.3), read as the person reads it.

Provider staff appear as "Amanat staff" with their role; an admin of the person's own account
by username (the person knows who supervises them). Usernames are identity's: the door hands
in a lookup, and a user it cannot name (erased, or gone) is "A former user".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from amanat.access.roles import PLATFORM_ROLES
from amanat.audit.event_words import role_words
from amanat.core.crypto import MasterKeyring
from amanat.people.reveal import FIELD_LABELS, PURPOSE_LABELS, Purpose, data_access_of

STAFF_NAME = "Amanat staff"
FORMER_USER = "A former user"
_PURPOSE_VALUES = frozenset(purpose.value for purpose in Purpose)

# The usernames of these user ids, leaving out any user who may not be named any more.
UsernamesOf = Callable[[Collection[str]], Awaitable[Mapping[str, str]]]


@dataclass(frozen=True, repr=False)
class DataAccessView:
    """One look at a person's data, as the person reads it."""

    at: datetime
    who: str
    role: str
    field: str
    field_label: str
    purpose: str
    purpose_label: str
    reason: str | None

    def __repr__(self) -> str:
        return f"DataAccessView(at={self.at!r}, field={self.field!r})"


def _role_label(role: str) -> str:
    return role_words(role)


async def my_data_access(
    session: AsyncSession,
    ring: MasterKeyring,
    person_id: str | None,
    usernames_of: UsernamesOf,
) -> list[DataAccessView]:
    """Who looked at this person's data, when, at what and why; newest first (an account
    without personal data: nobody)."""
    if person_id is None:
        return []
    accesses = await data_access_of(session, ring, person_id)
    staff_roles = {role.value for role in PLATFORM_ROLES}
    actor_ids = {a.actor_id for a in accesses if a.actor_role not in staff_roles}
    names: Mapping[str, str] = await usernames_of(actor_ids) if actor_ids else {}
    views: list[DataAccessView] = []
    for access in accesses:
        staff = access.actor_role in staff_roles
        purpose_label = (
            PURPOSE_LABELS[Purpose(access.purpose)]
            if access.purpose in _PURPOSE_VALUES
            else access.purpose
        )
        views.append(
            DataAccessView(
                at=access.at,
                who=STAFF_NAME if staff else names.get(access.actor_id, FORMER_USER),
                role=_role_label(access.actor_role),
                field=access.field,
                field_label=FIELD_LABELS.get(access.field, access.field),
                purpose=access.purpose,
                purpose_label=purpose_label,
                reason=access.reason,
            )
        )
    return views
