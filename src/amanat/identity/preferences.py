"""A person's own preferences: the time zone pages show times in (default Asia/Karachi)."""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import available_timezones

from sqlalchemy.ext.asyncio import AsyncSession

from amanat.audit.actors import AuditActor
from amanat.audit.records import record_event
from amanat.core.clock import utcnow
from amanat.core.errors import InvalidInput
from amanat.identity.models import User

DEFAULT_TIME_ZONE = "Asia/Karachi"


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    # The list the page offers (web.localtime.time_zone_names): "Area/Place" names only.
    return frozenset(name for name in available_timezones() if "/" in name)


async def set_time_zone(session: AsyncSession, user: User, name: str | None) -> str:
    """Keep `name` as the user's zone (empty or None: back to the default); the zone now used."""
    chosen = (name or "").strip() or None
    if chosen is not None and chosen not in _zones():
        raise InvalidInput(
            "Choose a time zone from the list.", code="time_zone_unknown", field="time_zone"
        )
    if chosen == DEFAULT_TIME_ZONE:
        chosen = None
    if user.time_zone != chosen:
        user.time_zone = chosen
        user.updated_at = utcnow()
        await record_event(
            session,
            actor=AuditActor(user.id, user.role.value),
            action="user.time_zone_change",
            account_id=user.account_id,
            target_type="user",
            target_id=user.id,
        )
        await session.flush()
    return chosen or DEFAULT_TIME_ZONE
