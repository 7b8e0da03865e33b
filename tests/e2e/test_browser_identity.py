"""The identity acceptance walk in a real Chromium against a real `amanat serve`.

Admin sets a password from the operator's link, signs in, enrols TOTP and invites a user; the user,
in a second browser profile, accepts the mailed invitation, enrols TOTP, signs out and back in with
password and code; the admin suspends them and their open session dies on its next request.
"""

from __future__ import annotations

import email
import email.policy
import re
import time
from email.message import EmailMessage
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.support.browser import browser_context, chromium
from tests.support.processes import amanat_env, run_amanat
from tests.support.server import running_server

pytestmark = pytest.mark.e2e

SESSION_COOKIE = "__Host-amanat_session"
ADMIN_PASSWORD = "the lantern stays lit beside quartz rivers"
MEMBER_PASSWORD = "correct horse battery staple orbit"
MEMBER_EMAIL = "worker1@example.com"
INVITE_PATH = re.compile(r"/invite/[A-Za-z0-9_\-]+")


def _invite_path(text: str) -> str:
    found = INVITE_PATH.search(text)
    assert found is not None, f"no invitation link in: {text!r}"
    return found.group(0)


def _wait_for_invitation(mail_dir: Path, recipient: str, timeout: float = 15) -> str:
    """The /invite/... path from the first .eml in `mail_dir` addressed to `recipient`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(mail_dir.glob("*.eml")) if mail_dir.is_dir() else []:
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            if recipient not in str(message["To"]):
                continue
            part = message.get_body(preferencelist=("plain",))
            assert part is not None
            assert isinstance(part, EmailMessage)
            body = part.get_content()
            lines = [line for line in body.splitlines() if "/invite/" in line]
            assert lines, f"invitation mail without a link: {body!r}"
            return _invite_path(lines[0])
        time.sleep(0.2)
    raise AssertionError(f"no invitation mail for {recipient} in {mail_dir} within {timeout} s")


def _check_password_toggle(page: Page) -> None:
    """password.js adds a Show/Hide button that switches the field between hidden and plain."""
    field = page.locator("input[name=password]")
    expect(field).to_have_attribute("type", "password")
    page.get_by_role("button", name="Show password").click()
    expect(field).to_have_attribute("type", "text")
    page.get_by_role("button", name="Hide password").click()
    expect(field).to_have_attribute("type", "password")


def _set_password(page: Page, url: str, password: str) -> None:
    page.goto(url)
    expect(page.get_by_role("heading", name="Set your password")).to_be_visible()
    _check_password_toggle(page)
    page.locator("input[name=password]").fill(password)
    page.get_by_role("button", name="Set password").click()
    expect(page.locator("p.notice")).to_contain_text("Your password is set")


def _sign_in(
    page: Page, base: str, login: str, password: str, *, check_toggle: bool = False
) -> None:
    page.goto(f"{base}/signin")
    if check_toggle:
        _check_password_toggle(page)
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill(password)
    page.get_by_role("button", name="Sign in").click()


def _enrol_totp(page: Page) -> str:
    """On /account/mfa: read the key, confirm with a current code; returns the secret."""
    expect(page).to_have_url(re.compile(r"/account/mfa$"))
    secret = page.get_by_test_id("totp-secret").inner_text().strip()
    assert re.fullmatch(r"[A-Z2-7]{16,}", secret), secret
    page.locator("input[name=code]").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on").click()
    expect(page.locator("ul.codes li")).to_have_count(10)
    return secret


def _session_cookie(context: BrowserContext) -> dict[str, object]:
    cookies = [c for c in context.cookies() if c.get("name") == SESSION_COOKIE]
    assert len(cookies) == 1, context.cookies()
    return dict(cookies[0])


@pytest.mark.asvs("V7.4.1")
@pytest.mark.policy("§4 access controls")
def test_invite_enrol_sign_in_and_suspend_in_a_browser(tmp_path: Path) -> None:
    data_dir = tmp_path / "amanat-data"
    env = amanat_env(data_dir)
    created = run_amanat(
        [
            "admin",
            "create",
            "--username",
            "boss",
            "--email",
            "boss@example.com",
            "--name",
            "Boss Person",
        ],
        cwd=tmp_path,
        env=env,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    admin_link = _invite_path(created.stdout.strip().splitlines()[-1])

    with (
        running_server(tmp_path, env) as server,
        chromium() as browser,
        browser_context(browser) as admin_context,
        browser_context(browser) as member_context,
    ):
        base = server.url

        # The administrator: password from the operator's link, sign-in, TOTP enrolment.
        admin = admin_context.new_page()
        _set_password(admin, f"{base}{admin_link}", ADMIN_PASSWORD)
        _sign_in(admin, base, "boss", ADMIN_PASSWORD)
        _enrol_totp(admin)

        # ...invites worker1 through the Users page.
        admin.goto(f"{base}/admin/users")
        admin.locator("input[name=username]").last.fill("worker1")
        admin.locator("input[name=full_name]").fill("Worker One")
        admin.locator("input[name=email]").fill(MEMBER_EMAIL)
        role_select = admin.locator("select[name=role]").last
        offered = [o.get_attribute("value") for o in role_select.locator("option").all()]
        # A platform administrator's form offers platform (staff) roles only; "member" is an
        # account role. Take the least privileged role on offer; it needs MFA like a member.
        role = "member" if "member" in offered else "communications"
        assert role in offered, offered
        role_select.select_option(role)
        admin.get_by_role("button", name="Send invitation").click()
        expect(admin).to_have_url(re.compile(r"/admin/users/[^/]+$"))
        member_page_url = admin.url
        expect(admin.get_by_test_id("status")).to_have_text("Invited")

        # The member, in a second browser profile, follows the mailed link.
        member_link = _wait_for_invitation(data_dir / "mail", MEMBER_EMAIL)
        member = member_context.new_page()
        _set_password(member, f"{base}{member_link}", MEMBER_PASSWORD)
        _sign_in(member, base, "worker1", MEMBER_PASSWORD)
        secret = _enrol_totp(member)

        member.goto(f"{base}/account")
        expect(member).to_have_url(re.compile(r"/account$"))
        member.get_by_role("button", name="Sign out").click()
        expect(member).to_have_url(re.compile(r"/signin$"))
        assert not [c for c in member_context.cookies() if c.get("name") == SESSION_COOKIE]

        # Back in with password and a code of the next time step (the enrolment step is spent).
        _sign_in(member, base, "worker1", MEMBER_PASSWORD, check_toggle=True)
        expect(member).to_have_url(re.compile(r"/signin/second-factor$"))
        member.locator("input[name=code]").fill(pyotp.TOTP(secret).at(time.time() + 30))
        member.get_by_role("button", name="Continue").click()
        expect(member).to_have_url(re.compile(r"/account$"))
        expect(member.get_by_role("heading", name="My account")).to_be_visible()
        expect(member.locator("span.whoami")).to_have_text("worker1")

        cookie = _session_cookie(member_context)
        assert cookie["httpOnly"] is True
        assert cookie["secure"] is True
        assert cookie.get("path") == "/"

        # The administrator suspends the member...
        admin.goto(member_page_url)
        expect(admin.get_by_test_id("status")).to_have_text("Active")
        admin.get_by_role("button", name="Suspend…").click()  # the confirmation page first
        admin.get_by_role("button", name="Suspend", exact=True).click()
        expect(admin.get_by_test_id("status")).to_have_text("Suspended")

        # ...and the member's open session is dead on its next request.
        member.reload()
        expect(member).to_have_url(re.compile(r"/signin$"))
        expect(member.get_by_role("heading", name="Sign in")).to_be_visible()
