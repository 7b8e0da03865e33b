"""Times on pages, in the reader's time zone, with the zone named (policy: people read local
time; the default is Pakistan's).

Stored times are UTC. A page shows them in the signed-in person's zone (their preference,
`auth.user.time_zone`) or, before sign-in, in the default zone. The `<time>` element keeps the
exact UTC instant for machines and the title names the zone in full.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape

DEFAULT_TIME_ZONE = "Asia/Karachi"

_FORMATS = {
    "datetime": "%Y-%m-%d %H:%M",
    "seconds": "%Y-%m-%d %H:%M:%S",
    "date": "%Y-%m-%d",
    "time": "%H:%M",
}


@lru_cache(maxsize=64)
def zone_named(name: str | None) -> ZoneInfo:
    """The zone called `name`, or the default zone when it is unset or unknown."""
    if not name:
        return ZoneInfo(DEFAULT_TIME_ZONE)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):  # a zone removed from the system's tz data
        return ZoneInfo(DEFAULT_TIME_ZONE)


@lru_cache(maxsize=1)
def time_zone_names() -> tuple[str, ...]:
    """Every zone a person may choose, sorted (for the preference's select list)."""
    return tuple(sorted(name for name in available_timezones() if "/" in name))


def is_time_zone(name: str) -> bool:
    return name in time_zone_names()


def reader_zone(context: Context | dict[str, Any]) -> ZoneInfo:
    """The zone of whoever reads the page being rendered."""
    explicit = context.get("time_zone")
    if isinstance(explicit, str):
        return zone_named(explicit)
    auth = context.get("auth")
    user = getattr(auth, "user", None)
    return zone_named(getattr(user, "time_zone", None))


def as_local(value: datetime, zone: ZoneInfo) -> datetime:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(zone)


def format_local(value: datetime, zone: ZoneInfo, style: str = "datetime") -> str:
    """`2026-12-02 21:40 PKT`: the local wall time and the zone's short name."""
    local = as_local(value, zone)
    text = local.strftime(_FORMATS.get(style, _FORMATS["datetime"]))
    if style == "date":
        return text
    abbreviation = local.tzname() or zone.key
    # Zones without a letter abbreviation ("+05") are named by their key instead.
    label = abbreviation if abbreviation[:1].isalpha() else zone.key
    return f"{text} {label}"


@pass_context
def _localtime(context: Context, value: object, style: str = "datetime") -> Markup | str:
    if value is None or value == "":
        return ""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    if not isinstance(value, datetime):
        return str(value)
    zone = reader_zone(context)
    instant = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        instant.strftime("%Y-%m-%dT%H:%M:%SZ"), zone.key, escape(format_local(value, zone, style))
    )


@pass_context
def _zone_name(context: Context) -> str:
    return reader_zone(context).key


def install_time_filters(environment: Environment) -> None:
    environment.filters["localtime"] = _localtime
    environment.globals["reader_zone_name"] = _zone_name
