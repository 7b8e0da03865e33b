"""The API shows a sign-in's address as the pages do: its /24 or /48 network, never the raw
address, to admins too (policy §1 location information; ASVS V14.2.6)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from amanat.activity.schemas import SecurityEventOut
from amanat.activity.service import EventView

pytestmark = [pytest.mark.policy("§1 location information"), pytest.mark.asvs("V14.2.6")]


def _event(ip: str | None, network: str | None) -> EventView:
    return EventView(
        id="evt",
        kind="signin",
        outcome="success",
        at=datetime(2025, 1, 2, tzinfo=UTC),
        ip=ip,
        network=network,
        browser=None,
        browser_version=None,
        os=None,
        os_version=None,
        device_type=None,
        session_id=None,
    )


@pytest.mark.parametrize(
    ("raw", "network"),
    [("203.0.113.77", "203.0.113.0/24"), ("2001:db8:1:2::5", "2001:db8:1::/48")],
)
def test_a_kept_address_is_shown_as_its_network(raw: str, network: str) -> None:
    shown = SecurityEventOut.of(_event(raw, network))
    assert (shown.ip, shown.ip_network) == (network, network)
    assert raw not in shown.model_dump_json()


def test_after_its_period_only_the_network_remains() -> None:
    shown = SecurityEventOut.of(_event(None, "203.0.113.0/24"))
    assert (shown.ip, shown.ip_network) == (None, "203.0.113.0/24")
