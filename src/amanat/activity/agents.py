"""User agents: parsed once into browser, operating system and device type, never stored raw.

Parsing goes through a bounded LRU cache keyed by the (truncated) agent string, so the same
browser costs a dictionary look-up after its first request. The agent is attacker-controlled
text: it is cut to `MAX_AGENT_CHARS` before parsing, and every name that comes out of the
parser is reduced to a short run of safe characters, so nothing from it can carry markup,
a URL or a line break into a page or a mail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import ua_parser

from amanat.activity.vocabulary import DeviceType

MAX_AGENT_CHARS = 512
CACHE_SIZE = 4096
NAME_MAX_CHARS = 40
VERSION_MAX_CHARS = 16
UNKNOWN_NAME = "Other"


_UNSAFE = re.compile(r"[^A-Za-z0-9 ._+-]")
_BOT_WORDS = ("bot", "crawler", "spider", "slurp")
_MOBILE_OS = frozenset(
    {"iOS", "Android", "Windows Phone", "BlackBerry OS", "KaiOS", "Firefox OS", "Symbian OS"}
)
_DESKTOP_OS = frozenset(
    {
        "Windows",
        "Mac OS X",
        "macOS",
        "Linux",
        "Ubuntu",
        "Debian",
        "Fedora",
        "Red Hat",
        "SUSE",
        "openSUSE",
        "Arch Linux",
        "Linux Mint",
        "Chrome OS",
        "ChromeOS",
        "FreeBSD",
        "OpenBSD",
        "NetBSD",
        "Solaris",
    }
)


@dataclass(frozen=True, slots=True)
class ParsedAgent:
    """What a user agent says about the client, in a few short, safe words."""

    browser: str
    browser_version: str
    os: str
    os_version: str
    device_type: DeviceType

    @property
    def browser_label(self) -> str:
        return f"{self.browser} {self.browser_version}".strip()

    @property
    def os_label(self) -> str:
        return f"{self.os} {self.os_version}".strip()


UNKNOWN_AGENT = ParsedAgent(UNKNOWN_NAME, "", UNKNOWN_NAME, "", "other")


def parse_agent(raw: str | None) -> ParsedAgent:
    """Browser, OS and device type of a User-Agent header; any input gives an answer."""
    if not raw:
        return UNKNOWN_AGENT
    return _parse_truncated(raw[:MAX_AGENT_CHARS])


@lru_cache(maxsize=CACHE_SIZE)
def _parse_truncated(agent: str) -> ParsedAgent:
    try:
        result = ua_parser.parse(agent)
    except Exception:  # a parser bug on odd input must not fail the request
        return UNKNOWN_AGENT
    browser = _name(result.user_agent.family if result.user_agent else None)
    browser_version = _version(result.user_agent.major if result.user_agent else None)
    os_name = _name(result.os.family if result.os else None)
    os_version = _version(
        ".".join(part for part in (result.os.major, result.os.minor) if part) if result.os else None
    )
    device_family = result.device.family if result.device else ""
    device_brand = (result.device.brand or "") if result.device else ""
    device_type = _device_type(agent, browser, os_name, device_family, device_brand)
    return ParsedAgent(browser, browser_version, os_name, os_version, device_type)


def _name(value: str | None) -> str:
    cleaned = _UNSAFE.sub("", value or "").strip()[:NAME_MAX_CHARS].strip()
    return cleaned or UNKNOWN_NAME


def _version(value: str | None) -> str:
    return _UNSAFE.sub("", value or "").strip()[:VERSION_MAX_CHARS]


def _device_type(agent: str, browser: str, os_name: str, family: str, brand: str) -> DeviceType:
    lowered = browser.lower()
    if family == "Spider" or any(word in lowered for word in _BOT_WORDS):
        return "bot"
    if family == "iPad" or "tablet" in f"{family} {brand}".lower():
        return "tablet"
    if os_name == "Android":
        # Android phones say "Mobile"; Android tablets leave it out (Google's own convention).
        return "mobile" if "Mobile" in agent else "tablet"
    if os_name in _MOBILE_OS:
        return "mobile"
    if os_name in _DESKTOP_OS:
        return "desktop"
    return "other"
