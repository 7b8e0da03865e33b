"""A sign-in from an unseen device mails the person through a real SMTP server: time, browser,
OS and the shortened network, never the full address; its "this was not me" link signs the
account out everywhere and leads to a new password (policy §1, §3; ASVS V7.4.1)."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from amanat.access.actors import Actor
from amanat.access.roles import Role
from amanat.activity.alerts import NEW_DEVICE_CATEGORY, NEW_DEVICE_SUBJECT
from amanat.comms.delivery import deliver_due
from amanat.comms.transports import SmtpTransport
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.settings import Settings
from amanat.identity.api_tokens import create_api_token
from tests.activity.helpers import (
    CHROME_WINDOWS,
    FIREFOX_LINUX,
    browser,
    devices_of,
    queued_mails,
    sign_in,
)
from tests.support.identity import Person, make_user

pytestmark = [
    pytest.mark.policy("§1 location information"),
    pytest.mark.policy("§3 automatic data collection"),
]

HOME = "203.0.113.77"
ELSEWHERE = "198.51.100.23"
NOT_ME = re.compile(r"https://\S+/not-me/([A-Za-z0-9_-]+)")
NEW_PASSWORD = "violet lanterns hum above the orchard"


@dataclass
class Inbox:
    received: list[bytes] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.received.append(bytes(envelope.content))
        return "250 Message accepted"

    def alerts(self) -> list[EmailMessage]:
        parser = BytesParser(policy=policy.default)
        messages = [parser.parsebytes(raw) for raw in self.received]
        return [m for m in messages if m["Subject"] == NEW_DEVICE_SUBJECT]


@dataclass
class Relay:
    inbox: Inbox
    port: int


@pytest.fixture
def smtp_relay() -> Iterator[Relay]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield Relay(inbox, port)
    finally:
        controller.stop()


@pytest.fixture
async def nadia(
    database: Database, test_keyring: MasterKeyring, settings: Settings, account_a: str
) -> Person:
    """A member who has just accepted her invitation and has not signed in yet."""
    return await make_user(
        database,
        test_keyring,
        settings,
        account_id=account_a,
        username="nadia",
        role=Role.MEMBER,
        mfa=False,
    )


async def _deliver(database: Database, ring: MasterKeyring, relay: Relay) -> list[EmailMessage]:
    report = await deliver_due(database, ring, SmtpTransport(f"smtp://127.0.0.1:{relay.port}"))
    assert report.failed == 0
    return relay.inbox.alerts()


async def test_an_unseen_device_is_announced_by_mail_with_the_network_only(
    app: Any, database: Database, test_keyring: MasterKeyring, smtp_relay: Relay, nadia: Person
) -> None:
    async with browser(app, HOME, CHROME_WINDOWS) as home:
        await sign_in(home, nadia, database)  # the first sign-in after the invitation: quiet
        await sign_in(home, nadia, database)  # the same device again: quiet
        assert "__Host-amanat_device" in home.cookies
    assert await _deliver(database, test_keyring, smtp_relay) == []

    async with browser(app, ELSEWHERE, FIREFOX_LINUX) as elsewhere:
        await sign_in(elsewhere, nadia, database)
    (alert,) = await _deliver(database, test_keyring, smtp_relay)
    assert alert["To"] == nadia.email
    body = alert.get_content()
    assert isinstance(body, str)
    assert "nadia" in body
    assert "Firefox 121" in body
    assert "Linux" in body
    assert "desktop" in body
    assert "198.51.100.0/24" in body
    assert ELSEWHERE not in body
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC", body)
    assert NOT_ME.search(body)
    assert len(await devices_of(database, nadia.user_id)) == 2


async def test_the_cookie_alone_does_not_make_another_browser_a_known_device(
    app: Any, database: Database, test_keyring: MasterKeyring, nadia: Person
) -> None:
    async with browser(app, HOME, CHROME_WINDOWS) as home:
        await sign_in(home, nadia, database)
        stolen = home.cookies["__Host-amanat_device"]
    async with browser(app, HOME, FIREFOX_LINUX) as other:
        other.cookies.set("__Host-amanat_device", stolen)
        await sign_in(other, nadia, database)
    assert len(await queued_mails(database, test_keyring, NEW_DEVICE_CATEGORY)) == 1


@pytest.mark.asvs("V7.4.1")
async def test_this_was_not_me_signs_out_everywhere_and_leads_to_a_new_password(
    app: Any, database: Database, test_keyring: MasterKeyring, smtp_relay: Relay, nadia: Person
) -> None:
    async with browser(app, HOME, CHROME_WINDOWS) as home:
        await sign_in(home, nadia, database)
        async with database.sessionmaker() as session:
            owner = Actor(nadia.user_id, nadia.account_id, nadia.role, session_id="s")
            _row, api_token = await create_api_token(
                session, owner, name="backup script", scopes=["profile:read"]
            )
            await session.commit()
        async with browser(app, ELSEWHERE, FIREFOX_LINUX) as intruder:
            await sign_in(intruder, nadia, database)
            (alert,) = await _deliver(database, test_keyring, smtp_relay)
            body = alert.get_content()
            found = NOT_ME.search(body)
            assert found is not None
            token = found.group(1)

            async with browser(app, HOME, CHROME_WINDOWS) as mail_reader:
                page = await mail_reader.get(f"/not-me/{token}")
                assert page.status_code == 200
                assert "Sign out everywhere" in page.text
                # Looking at the page changes nothing: a mail scanner may fetch it.
                assert (await intruder.get("/api/v1/me")).status_code == 200
                csrf = mail_reader.cookies["__Host-amanat_csrf"]
                forged = await mail_reader.post(f"/not-me/{token}", data={"csrf_token": "x"})
                assert forged.status_code == 403
                confirmed = await mail_reader.post(f"/not-me/{token}", data={"csrf_token": csrf})
                assert confirmed.status_code == 303
                assert confirmed.headers["location"] == f"/reset/{token}"

                assert (await intruder.get("/api/v1/me")).status_code == 401
                assert (await home.get("/api/v1/me")).status_code == 401
                bearer = {"authorization": f"Bearer {api_token}"}
                assert (await mail_reader.get("/api/v1/me", headers=bearer)).status_code == 401
                assert await devices_of(database, nadia.user_id) == []

                form = await mail_reader.get(f"/reset/{token}")
                assert form.status_code == 200
                done = await mail_reader.post(
                    f"/reset/{token}", data={"new_password": NEW_PASSWORD, "csrf_token": csrf}
                )
                assert done.status_code == 303
                assert "Your password is changed" in (await mail_reader.get("/signin")).text
                used = await mail_reader.get(f"/not-me/{token}")
                assert used.status_code == 422

        signed = await home.post(
            "/api/v1/session", json={"login": nadia.username, "password": NEW_PASSWORD}
        )
        assert signed.status_code == 200


async def test_a_not_me_link_that_is_unknown_shows_nothing(app: Any) -> None:
    async with browser(app, HOME, CHROME_WINDOWS) as http:
        page = await http.get("/not-me/" + "A" * 43)
        assert page.status_code == 422
        assert "not valid" in page.text
