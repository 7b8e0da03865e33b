"""The address recorded for a sign-in is the socket peer's; `X-Forwarded-For` counts only when
the peer is a configured trusted proxy (ASVS V4.1.3, V15.3.4)."""

from __future__ import annotations

from typing import Any

import pytest

from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.settings import Settings
from amanat.web.app import create_app
from tests.activity.helpers import FIREFOX_LINUX, browser, events_of, sign_in
from tests.support.identity import Person

pytestmark = [
    pytest.mark.policy("§1 location information"),
    pytest.mark.asvs("V4.1.3", "V15.3.4"),
]

PROXY = "10.0.0.5"
CLIENT = "198.51.100.23"
SPOOFED = "192.0.2.99"


@pytest.fixture
def proxied_app(settings: Settings, database: Database, test_keyring: MasterKeyring) -> Any:
    behind = settings.model_copy(update={"behind_proxy": True, "trusted_proxies": ["10.0.0.0/8"]})
    return create_app(behind, database=database, keyring=test_keyring)


async def _signed_in_address(
    app: Any, database: Database, person: Person, peer: str, headers: dict[str, str]
) -> tuple[str | None, str | None]:
    async with browser(app, peer, FIREFOX_LINUX) as http:
        http.headers.update(headers)
        await sign_in(http, person, database)
    latest = [e for e in await events_of(database, person.user_id) if e.kind == "mfa"][-1]
    return latest.ip, latest.network


async def test_a_forwarded_header_from_an_untrusted_peer_is_ignored(
    proxied_app: Any, database: Database, member_a: Person
) -> None:
    recorded = await _signed_in_address(
        proxied_app, database, member_a, "203.0.113.77", {"x-forwarded-for": SPOOFED}
    )
    assert recorded == ("203.0.113.77", "203.0.113.0/24")


async def test_a_trusted_proxy_is_believed_about_its_client(
    proxied_app: Any, database: Database, member_a: Person
) -> None:
    recorded = await _signed_in_address(
        proxied_app, database, member_a, PROXY, {"x-forwarded-for": f"{SPOOFED}, {CLIENT}"}
    )
    # The right-most address not of a trusted proxy: what the proxy itself saw.
    assert recorded == (CLIENT, "198.51.100.0/24")


async def test_without_a_configured_proxy_the_header_never_counts(
    app: Any, database: Database, member_a: Person
) -> None:
    recorded = await _signed_in_address(app, database, member_a, PROXY, {"x-forwarded-for": CLIENT})
    assert recorded == (PROXY, "10.0.0.0/24")


async def test_ipv6_clients_are_shown_by_their_48(
    app: Any, database: Database, member_a: Person
) -> None:
    recorded = await _signed_in_address(app, database, member_a, "2001:db8:abcd:12::7", {})
    assert recorded == ("2001:db8:abcd:12::7", "2001:db8:abcd::/48")
