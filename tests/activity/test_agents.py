"""User agents become browser, OS and device type; any agent at all is handled (policy §3)."""

from __future__ import annotations

import pytest

from amanat.activity import agents
from amanat.activity.agents import MAX_AGENT_CHARS, UNKNOWN_AGENT, parse_agent
from amanat.activity.vocabulary import DEVICE_TYPES
from tests.activity.helpers import (
    CHROME_ANDROID_PHONE,
    CHROME_ANDROID_TABLET,
    CHROME_WINDOWS,
    CURL,
    EDGE_WINDOWS,
    FIREFOX_LINUX,
    GOOGLEBOT,
    SAFARI_IPAD,
    SAFARI_IPHONE,
)

pytestmark = pytest.mark.policy("§3 automatic data collection")


@pytest.mark.parametrize(
    ("agent", "browser", "version", "os", "os_version", "device_type"),
    [
        (CHROME_WINDOWS, "Chrome", "120", "Windows", "10", "desktop"),
        (SAFARI_IPHONE, "Mobile Safari", "17", "iOS", "17.1", "mobile"),
        (FIREFOX_LINUX, "Firefox", "121", "Linux", "", "desktop"),
        (EDGE_WINDOWS, "Edge", "120", "Windows", "10", "desktop"),
        (CHROME_ANDROID_PHONE, "Chrome Mobile", "120", "Android", "14", "mobile"),
        (CHROME_ANDROID_TABLET, "Chrome", "120", "Android", "13", "tablet"),
        (SAFARI_IPAD, "Mobile Safari", "17", "iOS", "17.1", "tablet"),
        (CURL, "curl", "8", "Other", "", "other"),
        (GOOGLEBOT, "Googlebot", "2", "Other", "", "bot"),
    ],
)
def test_real_agents_are_parsed_into_browser_os_and_device_type(
    agent: str, browser: str, version: str, os: str, os_version: str, device_type: str
) -> None:
    parsed = parse_agent(agent)
    assert (parsed.browser, parsed.browser_version) == (browser, version)
    assert (parsed.os, parsed.os_version) == (os, os_version)
    assert parsed.device_type == device_type


@pytest.mark.parametrize(
    "agent",
    [
        None,
        "",
        "   ",
        "\x00\x01\x02\xff garbage ((((",
        "Mozilla/5.0 (" * 800,
        "x" * 10 * 1024,
        "Mozilla/5.0 " + "(compatible; " * 2000,
        "\u202eevil\u202c/1.0 \r\nX-Injected: 1",
    ],
)
def test_empty_malformed_and_huge_agents_are_handled(agent: str | None) -> None:
    parsed = parse_agent(agent)
    assert parsed.device_type in DEVICE_TYPES
    for name in (parsed.browser, parsed.os):
        assert 0 < len(name) <= agents.NAME_MAX_CHARS


def test_a_ten_kilobyte_agent_is_cut_before_parsing() -> None:
    huge = CHROME_WINDOWS + " " + "A" * 10 * 1024
    assert parse_agent(huge) == parse_agent(huge[:MAX_AGENT_CHARS])
    assert parse_agent(huge).browser == "Chrome"


def test_names_from_the_agent_carry_no_markup_urls_or_line_breaks() -> None:
    hostile = "Mozilla/5.0 (compatible; <script>alert(1)</script>http://evil.example/Login-bot/1.0)"
    parsed = parse_agent(hostile)
    for value in (parsed.browser, parsed.browser_version, parsed.os, parsed.os_version):
        assert not set(value) & set("<>:/\"'&\r\n")
    assert parse_agent(None) is UNKNOWN_AGENT


def test_parsing_is_cached_in_a_bounded_lru() -> None:
    cache = agents._parse_truncated
    assert cache.cache_info().maxsize == agents.CACHE_SIZE
    parse_agent(FIREFOX_LINUX)
    hits = cache.cache_info().hits
    parse_agent(FIREFOX_LINUX)
    assert cache.cache_info().hits == hits + 1
