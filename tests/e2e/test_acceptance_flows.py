"""Issue 11's acceptance, tried as a new user would in a real Chromium against `amanat serve`.

A platform administrator opens a customer account; its owner, at 1280 and at 390 pixels wide,
invites users from a CSV file, changes a role, reveals a field from a user's page (a reload
records no second reveal), removes a user only after confirming; then, as a person, makes new
recovery codes and forgets a device. Every page on the way is photographed at both widths and
checked for horizontal overflow (`tests/support/layout.py`).
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
from playwright.sync_api import Page, expect

from tests.support.browser import browser_context, chromium
from tests.support.layout import screenshot_both_widths, screenshot_dir
from tests.support.processes import amanat_env, run_amanat
from tests.support.server import running_server

pytestmark = pytest.mark.e2e

PASSWORD = "the lantern stays lit beside quartz rivers"
OWNER_PASSWORD = "amber gulls circle the old harbour wall"
INVITE_PATH = re.compile(r"/invite/[A-Za-z0-9_\-]+")
OWNER_EMAIL = "owner@karachi-traders.example.com"
CSV_ROWS = (
    "username,full_name,email,role,cnic\n"
    "ayesha,عائشہ صدیقی,ayesha@karachi-traders.example.com,member,42101-1234567-1\n"
    "bilal,Bilal Ahmed,bilal@karachi-traders.example.com,member,\n"
    "broken,No Address,not-an-email,member,\n"
)


class Camera:
    """Photographs each page at both widths, named in the order taken, and fails on overflow."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.taken: list[str] = []

    def shoot(self, page: Page, name: str) -> None:
        page.wait_for_load_state()
        numbered = f"{len(self.taken) + 1:02d}-{name}"
        screenshot_both_widths(page, numbered, self.directory)
        self.taken.append(numbered)


def _link_in_mail(mail_dir: Path, recipient: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(mail_dir.glob("*.eml")) if mail_dir.is_dir() else []:
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            if recipient not in str(message["To"]):
                continue
            part = message.get_body(preferencelist=("plain",))
            assert isinstance(part, EmailMessage)
            found = INVITE_PATH.search(part.get_content())
            if found:
                return found.group(0)
        time.sleep(0.2)
    raise AssertionError(f"no invitation mail for {recipient} within {timeout} s")


def _set_password_and_enrol(page: Page, base: str, link: str, login: str, password: str) -> str:
    page.goto(f"{base}{link}")
    page.locator("input[name=password]").fill(password)
    page.get_by_role("button", name="Set password").click()
    expect(page.locator("p.notice")).to_contain_text("Your password is set")
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/account/mfa$"))
    secret = page.get_by_test_id("totp-secret").inner_text().strip()
    page.locator("input[name=code]").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on").click()
    expect(page.locator("ul.codes li")).to_have_count(10)
    return secret


def _next_code(secret: str, used: set[str]) -> str:
    """A code of a time step not used yet (each step is accepted once)."""
    totp = pyotp.TOTP(secret)
    for _ in range(90):
        code = totp.now()
        if code not in used:
            used.add(code)
            return code
        time.sleep(1)
    raise AssertionError("no fresh TOTP step within 90 s")


def _open_customer_account(page: Page, base: str, camera: Camera) -> None:
    page.goto(f"{base}/admin/accounts")
    form = page.get_by_test_id("open-account-form")
    form.locator("input[name=name]").fill("Karachi Traders")
    form.locator("input[name=username]").fill("owner1")
    form.locator("input[name=full_name]").fill("Sana Owner")
    form.locator("input[name=email]").fill(OWNER_EMAIL)
    form.get_by_role("button", name="Open account and invite owner").click()
    expect(page.locator("p.notice")).to_contain_text("o***@")
    camera.shoot(page, "platform-account")


def _bulk_invite(page: Page, base: str, camera: Camera, tmp_path: Path) -> None:
    page.goto(f"{base}/admin/users")
    page.get_by_role("link", name=re.compile("Invite users from a CSV file")).click()
    expect(page).to_have_url(re.compile(r"/admin/imports$"))
    camera.shoot(page, "import-form")
    csv_file = tmp_path / "people.csv"
    csv_file.write_text(CSV_ROWS, encoding="utf-8")
    page.locator("input[name=file]").set_input_files(str(csv_file))
    page.locator("input[name=mode][value=import]").check()
    page.get_by_role("button", name="Upload").click()
    report = page.get_by_test_id("import-report")
    expect(report).to_be_visible()
    expect(page.get_by_test_id("import-summary")).to_contain_text("2")
    expect(report.locator("tr.refused")).to_have_count(1)
    camera.shoot(page, "import-report")
    page.goto(f"{base}/admin/users")
    pending = page.get_by_test_id("pending-invitations")
    expect(pending.get_by_role("link", name="ayesha")).to_be_visible()
    expect(pending.get_by_role("link", name="bilal")).to_be_visible()
    camera.shoot(page, "users")


def _change_role(page: Page, base: str, camera: Camera) -> None:
    page.goto(f"{base}/admin/users")
    page.get_by_role("link", name="ayesha").first.click()
    camera.shoot(page, "user-page")
    form = page.get_by_test_id("role-form")
    form.locator("select[name=role]").select_option("admin")
    form.get_by_role("button", name="Change role").click()
    expect(page.locator("p.notice")).to_contain_text("Administrator")
    camera.shoot(page, "role-changed")


def _reveal_once(page: Page, camera: Camera) -> None:
    """From ayesha's page: reveal her CNIC; the reload shows it no more and records nothing."""
    user_page = page.url
    page.get_by_test_id("reveal-links").get_by_role("link", name="Reveal CNIC").click()
    expect(page.get_by_test_id("whose")).to_contain_text("ayesha")
    camera.shoot(page, "reveal-form")
    page.locator("select[name=purpose]").select_option("identity_verification")
    page.locator("textarea[name=reason]").fill("Checking her CNIC against the signed contract.")
    page.get_by_role("button", name="Reveal").click()
    expect(page).to_have_url(re.compile(r"/shown$"))
    expect(page.get_by_test_id("revealed")).to_have_text("42101-1234567-1")
    camera.shoot(page, "revealed")
    page.reload()
    expect(page.get_by_test_id("revealed")).to_have_count(0)
    expect(page.get_by_test_id("shown-once")).to_be_visible()
    page.get_by_test_id("back").click()
    expect(page).to_have_url(user_page)


def _reveals_recorded(page: Page, base: str) -> int:
    page.goto(f"{base}/admin/audit?action=people.reveal")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    return page.locator("tbody tr[data-action='people.reveal']").count()


def _accept_invitation(page: Page, base: str, link: str) -> None:
    page.goto(f"{base}{link}")
    page.locator("input[name=password]").fill("seven quiet lanterns over the indus")
    page.get_by_role("button", name="Set password").click()
    expect(page.locator("p.notice")).to_contain_text("Your password is set")


def _remove_after_confirming(page: Page, base: str, camera: Camera) -> None:
    page.goto(f"{base}/admin/users")
    page.get_by_role("link", name="bilal").first.click()
    user_page = page.url
    page.locator("button[data-action=remove]").click()
    expect(page).to_have_url(re.compile(r"/remove\??$"))
    expect(page.locator("section.confirm")).to_contain_text("This will:")
    camera.shoot(page, "remove-confirm")
    # Going back changes nothing...
    page.get_by_role("link", name="Cancel, go back").click()
    expect(page).to_have_url(user_page)
    page.goto(f"{base}/admin/users")
    expect(page.get_by_role("link", name="bilal").first).to_be_visible()
    # ...confirming removes.
    page.goto(user_page)
    page.locator("button[data-action=remove]").click()
    page.locator("section.confirm button[type=submit]").click()
    expect(page.locator("p.notice")).to_contain_text("Removed bilal")
    page.goto(f"{base}/admin/users")
    expect(page.get_by_role("link", name="bilal")).to_have_count(0)


def _new_recovery_codes(page: Page, base: str, camera: Camera, secret: str, used: set[str]) -> None:
    page.goto(f"{base}/account")
    camera.shoot(page, "account")
    page.get_by_role("link", name="Make new recovery codes").click()
    camera.shoot(page, "recovery-confirm")
    page.locator("input[name=current_password]").fill(OWNER_PASSWORD)
    page.locator("input[name=code]").fill(_next_code(secret, used))
    page.get_by_role("button", name="Make new codes").click()
    codes = page.get_by_test_id("recovery-codes").locator("li")
    expect(codes).to_have_count(10)
    camera.shoot(page, "recovery-codes")
    page.reload()
    expect(page.get_by_test_id("recovery-codes")).to_have_count(0)
    expect(page.get_by_test_id("codes-left")).to_have_text("10")


def _forget_device(page: Page, base: str, camera: Camera) -> None:
    page.goto(f"{base}/account/devices")
    camera.shoot(page, "devices")
    forget = page.get_by_role("link", name="Forget this device")
    before = forget.count()
    assert before >= 1
    forget.first.click()
    expect(page.locator("section.confirm")).to_be_visible()
    camera.shoot(page, "forget-confirm")
    page.locator("section.confirm button[type=submit]").click()
    expect(page.locator("p.notice")).to_contain_text("orgot")
    expect(page.get_by_role("link", name="Forget this device")).to_have_count(before - 1)


def test_an_owner_manages_users_and_their_own_second_factor_at_both_widths(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "amanat-data"
    env = amanat_env(data_dir)
    created = run_amanat(
        ["admin", "create", "--username", "boss", "--email", "boss@example.com", "--name", "Boss"],
        cwd=tmp_path,
        env=env,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    first_link = INVITE_PATH.search(created.stdout.strip().splitlines()[-1])
    assert first_link is not None, created.stdout
    camera = Camera(screenshot_dir(tmp_path / "screenshots"))

    with (
        running_server(tmp_path, env) as server,
        chromium() as browser,
        browser_context(browser) as platform_context,
        browser_context(browser) as owner_context,
        browser_context(browser) as member_context,
    ):
        base = server.url
        platform = platform_context.new_page()
        _set_password_and_enrol(platform, base, first_link.group(0), "boss", PASSWORD)
        _open_customer_account(platform, base, camera)

        owner = owner_context.new_page()
        link = _link_in_mail(data_dir / "mail", OWNER_EMAIL)
        secret = _set_password_and_enrol(owner, base, link, "owner1", OWNER_PASSWORD)
        used = {pyotp.TOTP(secret).now()}

        _bulk_invite(owner, base, camera, tmp_path)
        _change_role(owner, base, camera)
        _reveal_once(owner, camera)
        assert _reveals_recorded(owner, base) == 1
        # bilal accepts his invitation, so he is an active user to remove.
        _accept_invitation(
            member_context.new_page(),
            base,
            _link_in_mail(data_dir / "mail", "bilal@karachi-traders.example.com"),
        )
        _remove_after_confirming(owner, base, camera)
        _new_recovery_codes(owner, base, camera, secret, used)
        _forget_device(owner, base, camera)

    for name in camera.taken:
        for width in (1280, 390):
            assert (camera.directory / f"{name}-{width}.png").stat().st_size > 1000
