"""Debian's Chromium driven by Playwright (sync API), for end-to-end tests.

Playwright never downloads a browser here: it launches `/usr/bin/chromium`. Contexts accept the
development server's self-signed certificate.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
DEFAULT_TIMEOUT_MS = 10_000


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium for the duration of the block."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def browser_context(browser: Browser, user_agent: str | None = None) -> Iterator[BrowserContext]:
    """A fresh, isolated browser profile (own cookies) that trusts the dev certificate; it sends
    `user_agent` instead of Chromium's own when given."""
    context = browser.new_context(ignore_https_errors=True, user_agent=user_agent)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    try:
        yield context
    finally:
        context.close()
