"""JSON shapes of activity data in the API: addresses only as their /24 or /48 network, as the
pages show them; the raw address is kept for its period but never shown, to admins either."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from amanat.activity.addresses import network_of
from amanat.activity.devices import DeviceView
from amanat.activity.service import DayCount, EventView


class DeviceOut(BaseModel):
    id: str
    current: bool
    browser: str
    browser_version: str
    os: str
    os_version: str
    device_type: str
    ip_network: str | None
    first_seen_at: datetime
    last_seen_at: datetime

    @classmethod
    def of(cls, view: DeviceView) -> DeviceOut:
        return cls(
            id=view.id,
            current=view.current,
            browser=view.browser,
            browser_version=view.browser_version,
            os=view.os,
            os_version=view.os_version,
            device_type=view.device_type,
            ip_network=view.network,
            first_seen_at=view.first_seen_at,
            last_seen_at=view.last_seen_at,
        )


class SecurityEventOut(BaseModel):
    id: str
    kind: str
    outcome: str
    at: datetime
    # Kept so clients reading `ip` go on working; it names the network, never the subscriber.
    ip: str | None = Field(
        description="The client's network (/24 or /48) while its raw address is kept, else null."
    )
    ip_network: str | None
    browser: str | None
    browser_version: str | None
    os: str | None
    os_version: str | None
    device_type: str | None
    session_id: str | None

    @classmethod
    def of(cls, view: EventView) -> SecurityEventOut:
        return cls(
            id=view.id,
            kind=view.kind,
            outcome=view.outcome,
            at=view.at,
            ip=network_of(view.ip),
            ip_network=view.network,
            browser=view.browser,
            browser_version=view.browser_version,
            os=view.os,
            os_version=view.os_version,
            device_type=view.device_type,
            session_id=view.session_id,
        )


class DayCountOut(BaseModel):
    day: date
    successes: int
    failures: int

    @classmethod
    def of(cls, count: DayCount) -> DayCountOut:
        return cls(day=count.day, successes=count.successes, failures=count.failures)
