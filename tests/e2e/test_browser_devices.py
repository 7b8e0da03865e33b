"""Devices and sessions in a real Chromium against a real `amanat serve`: one person signs in
from two browser profiles, sees both sessions on "Devices and sessions", ends the other one, and
that browser is signed out on its next request. The second sign-in, from a device not seen
before, is announced by mail with the network only."""

from __future__ import annotations

import email
import email.policy
import re
import time
from email.message import EmailMessage
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import browser_context, chromium
from tests.support.processes import amanat_env, run_amanat
from tests.support.server import running_server

pytestmark = [pytest.mark.e2e, pytest.mark.policy("§1 location information")]

PASSWORD = "amber kites drift over seven quiet harbours"
INVITE_PATH = re.compile(r"/invite/[A-Za-z0-9_\-]+")
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"


def _sign_in(page: Page, base: str, code: str | None = None) -> None:
    page.goto(f"{base}/signin")
    page.locator("input[name=login]").fill("boss")
    page.locator("input[name=password]").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    if code is not None:
        expect(page).to_have_url(re.compile(r"/signin/second-factor$"))
        page.locator("input[name=code]").fill(code)
        page.get_by_role("button", name="Continue").click()


def _alerts(mail_dir: Path) -> list[str]:
    bodies = []
    for path in sorted(mail_dir.glob("*.eml")) if mail_dir.is_dir() else []:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        if "new device" in str(message["Subject"]):
            part = message.get_body(preferencelist=("plain",))
            assert isinstance(part, EmailMessage)
            bodies.append(part.get_content())
    return bodies


@pytest.mark.asvs("V7.5.2", "V7.4.1")
def test_a_person_ends_their_other_browsers_session(tmp_path: Path) -> None:
    data_dir = tmp_path / "amanat-data"
    env = amanat_env(data_dir)
    created = run_amanat(
        ["admin", "create", "--username", "boss", "--email", "boss@example.com", "--name", "Boss"],
        cwd=tmp_path,
        env=env,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    found = INVITE_PATH.search(created.stdout.strip().splitlines()[-1])
    assert found is not None

    with (
        running_server(tmp_path, env) as server,
        chromium() as browser,
        browser_context(browser) as first_context,
        # Another browser, not just another profile: the same browser on the same network
        # without its cookie is taken for the same device (docs/activity.md).
        browser_context(browser, user_agent=FIREFOX_LINUX) as second_context,
    ):
        base = server.url
        first = first_context.new_page()
        first.goto(f"{base}{found.group(0)}")
        first.locator("input[name=password]").fill(PASSWORD)
        first.get_by_role("button", name="Set password").click()
        expect(first.locator("p.notice")).to_contain_text("Your password is set")
        _sign_in(first, base)
        expect(first).to_have_url(re.compile(r"/account/mfa$"))
        secret = first.get_by_test_id("totp-secret").inner_text().strip()
        first.locator("input[name=code]").fill(pyotp.TOTP(secret).now())
        first.get_by_role("button", name="Turn on").click()
        expect(first.locator("ul.codes li")).to_have_count(10)

        # The same person in a second browser (a code of the next time step).
        second = second_context.new_page()
        _sign_in(second, base, code=pyotp.TOTP(secret).at(time.time() + 30))
        expect(second).to_have_url(re.compile(r"/account$"))

        first.goto(f"{base}/account/devices")
        sessions = first.get_by_test_id("session")
        expect(sessions).to_have_count(2)
        expect(first.get_by_test_id("sessions")).to_contain_text("this session")
        expect(first.get_by_test_id("sessions")).to_contain_text("HeadlessChrome")
        expect(first.get_by_test_id("sessions")).to_contain_text("127.0.0.0/24")
        expect(first.get_by_test_id("device")).to_have_count(2)

        first.get_by_role("button", name="End session").click()
        expect(first).to_have_url(re.compile(r"/account/devices$"))
        expect(first.get_by_test_id("session")).to_have_count(1)

        # The other browser is signed out on its next request.
        second.reload()
        expect(second).to_have_url(re.compile(r"/signin$"))
        expect(second.get_by_role("heading", name="Sign in")).to_be_visible()

        deadline = time.monotonic() + 15
        while not _alerts(data_dir / "mail") and time.monotonic() < deadline:
            time.sleep(0.2)
        (alert,) = _alerts(data_dir / "mail")
        network = next(line for line in alert.splitlines() if "Network:" in line)
        assert "127.0.0.0/24" in network
        # The full address appears nowhere but in the link to this test server itself.
        assert "127.0.0.1" not in alert.replace(base, "")
        assert f"{base}/not-me/" in alert
