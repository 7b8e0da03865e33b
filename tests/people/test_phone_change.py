"""A new phone number takes effect only when its owner enters the code texted to it: the code
goes to the new number only (a 0600 `.txt` file in the embedded SMS sink), works once, for 30
minutes, for a few attempts; the old number and the email address are told."""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from amanat.audit.models import AuditRecord
from amanat.comms.models import OutboxMessage
from amanat.comms.outbox import EmailMessageData, decrypt_message
from amanat.comms.sms import TextFileSink, TextMessage
from amanat.core.clock import utcnow
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.settings import Settings
from amanat.people.models import PendingContactChange
from amanat.people.personal_data import read_person
from amanat.people.profile import MAX_CODE_ATTEMPTS
from amanat.people.registry import update_person
from tests.support.identity import STRONG_PASSWORD, Person, load_user, sign_in

pytestmark = [pytest.mark.policy("§4 user responsibility"), pytest.mark.asvs("V7.5.1")]

OLD_PHONE = "+923001112223"
NEW_PHONE = "+923009998887"


@dataclass(frozen=True)
class Text:
    path: Path
    to: str
    category: str
    body: str


def _texts(settings: Settings, category: str | None = None) -> list[Text]:
    """The messages in the SMS sink, oldest first."""
    found: list[Text] = []
    for path in sorted((settings.data_dir / "sms").glob("*.txt")):
        head, _, body = path.read_text(encoding="utf-8").partition("\n\n")
        headers = dict(line.split(": ", 1) for line in head.splitlines())
        found.append(Text(path, headers["To"], headers["Category"], body.strip()))
    return [text for text in found if category is None or text.category == category]


def _code(text: Text) -> str:
    found = re.search(r"\b([0-9]{6})\b", text.body)
    assert found is not None
    return found.group(1)


async def _mails(database: Database, ring: MasterKeyring, category: str) -> list[EmailMessageData]:
    async with database.sessionmaker() as session:
        rows = await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.category == category)
            .order_by(OutboxMessage.created_at)
        )
        return [decrypt_message(ring, row) for row in rows]


async def _give_phone(database: Database, ring: MasterKeyring, person: Person, phone: str) -> None:
    user = await load_user(database, person.user_id)
    assert user.person_id is not None
    async with database.sessionmaker() as session:
        await update_person(session, ring, user.person_id, phone=phone)
        await session.commit()


async def _phone_of(database: Database, ring: MasterKeyring, person: Person) -> str | None:
    user = await load_user(database, person.user_id)
    assert user.person_id is not None
    async with database.sessionmaker() as session:
        return (await read_person(session, ring, user.person_id)).phone


async def _ask_for(client: httpx.AsyncClient, phone: str = "0300-9998887") -> httpx.Response:
    return await client.put(
        "/api/v1/me/profile", json={"phone": phone, "current_password": STRONG_PASSWORD}
    )


async def _confirm(client: httpx.AsyncClient, code: str) -> httpx.Response:
    return await client.post("/api/v1/me/profile/confirm", json={"code": code})


async def test_a_new_phone_takes_effect_only_with_the_code_texted_to_it(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    member_a: Person,
) -> None:
    await _give_phone(database, test_keyring, member_a, OLD_PHONE)
    await sign_in(client, member_a, database)
    asked = await _ask_for(client)
    assert asked.status_code == 200, asked.text
    assert asked.json()["phone"] == "+92 300 1112223"  # unchanged until confirmed
    assert [(p["field"], p["new_value"]) for p in asked.json()["pending"]] == [("phone", NEW_PHONE)]

    (confirm,) = _texts(settings, "identity.phone_change_confirm")
    assert confirm.to == NEW_PHONE
    assert stat.S_IMODE(confirm.path.stat().st_mode) == 0o600
    code = _code(confirm)
    (notice,) = _texts(settings, "identity.phone_change_notice")
    assert notice.to == OLD_PHONE
    assert code not in notice.body
    (mailed,) = await _mails(database, test_keyring, "identity.contact_change_notice")
    assert mailed.to == member_a.email
    assert "phone number" in mailed.body
    assert "+92 3** ****887" in mailed.body
    assert code not in mailed.body
    assert "9998887" not in mailed.body
    assert await _phone_of(database, test_keyring, member_a) == OLD_PHONE

    wrong = await _confirm(client, "000000" if code != "000000" else "111111")
    assert wrong.status_code == 422
    assert wrong.json()["code"] == "confirmation_invalid"
    assert await _phone_of(database, test_keyring, member_a) == OLD_PHONE

    right = await _confirm(client, code)
    assert right.status_code == 200, right.text
    assert (right.json()["phone"], right.json()["pending"]) == ("+92 300 9998887", [])
    assert await _phone_of(database, test_keyring, member_a) == NEW_PHONE
    assert (await client.get("/api/v1/me/profile")).json()["phone"] == "+92 300 9998887"

    (changed,) = _texts(settings, "identity.phone_changed")
    assert changed.to == OLD_PHONE
    (told,) = await _mails(database, test_keyring, "identity.contact_changed")
    assert told.to == member_a.email
    assert "+92 3** ****887" in told.body

    again = await _confirm(client, code)
    assert again.status_code == 422  # used once


async def test_a_first_phone_number_is_confirmed_the_same_way(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    member_a: Person,
) -> None:
    await sign_in(client, member_a, database)
    assert (await _ask_for(client, "+92 300 9998887")).status_code == 200
    assert await _phone_of(database, test_keyring, member_a) is None
    assert [text.category for text in _texts(settings)] == ["identity.phone_change_confirm"]
    right = await _confirm(client, _code(_texts(settings)[0]))
    assert right.status_code == 200, right.text
    assert await _phone_of(database, test_keyring, member_a) == NEW_PHONE
    assert [text.to for text in _texts(settings)] == [NEW_PHONE]  # no old number to tell


async def test_a_phone_change_needs_the_current_password(
    client: httpx.AsyncClient, database: Database, settings: Settings, member_a: Person
) -> None:
    await sign_in(client, member_a, database)
    missing = await client.put("/api/v1/me/profile", json={"phone": "0300-9998887"})
    assert missing.status_code == 422
    assert missing.json()["code"] == "current_password_required"
    assert "9998887" not in missing.text
    assert _texts(settings) == []


@pytest.mark.asvs("V2.4.1")
async def test_wrong_codes_are_limited_and_an_old_code_expires(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    member_a: Person,
) -> None:
    await sign_in(client, member_a, database)
    assert (await _ask_for(client)).status_code == 200
    code = _code(_texts(settings)[-1])
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(MAX_CODE_ATTEMPTS):
        assert (await _confirm(client, wrong)).status_code == 422
    assert (await _confirm(client, code)).status_code == 422  # out of attempts
    assert await _phone_of(database, test_keyring, member_a) is None

    assert (await _ask_for(client, "0300-5554443")).status_code == 200
    code = _code(_texts(settings)[-1])
    async with database.sessionmaker() as session:
        row = await session.scalar(
            select(PendingContactChange).where(PendingContactChange.closed_at.is_(None))
        )
        assert row is not None
        row.expires_at = utcnow() - timedelta(seconds=1)
        await session.commit()
    assert (await _confirm(client, code)).status_code == 422
    assert await _phone_of(database, test_keyring, member_a) is None


async def test_the_request_is_audited_without_the_number(
    client: httpx.AsyncClient, database: Database, member_a: Person
) -> None:
    await sign_in(client, member_a, database)
    assert (await _ask_for(client)).status_code == 200
    async with database.sessionmaker() as session:
        details = await session.scalar(
            select(AuditRecord.details).where(AuditRecord.action == "user.contact_change_request")
        )
    assert details is not None
    assert "phone" in details
    assert "9998887" not in details


async def test_the_profile_page_changes_a_phone_number_without_javascript(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    member_a: Person,
) -> None:
    csrf = await sign_in(client, member_a, database)
    asked = await client.post(
        "/account/profile/contact",
        data={
            "email": member_a.email,
            "phone": "0300 9998887",
            "current_password": STRONG_PASSWORD,
            "csrf_token": csrf,
        },
    )
    assert asked.status_code == 303, asked.text  # POST/redirect/GET
    shown = await client.get(asked.headers["location"])
    assert "Waiting for confirmation" in shown.text
    assert "enter the code we texted to it" in shown.text
    assert "a code by text message to your new phone number" in shown.text
    assert "code to your new email address" not in shown.text
    confirmed = await client.post(
        "/account/profile/confirm",
        data={"code": _code(_texts(settings)[-1]), "csrf_token": csrf},
    )
    assert confirmed.status_code == 303
    after = await client.get(confirmed.headers["location"])
    assert "Your new contact details are saved" in after.text
    assert 'value="+92 300 9998887"' in after.text
    assert await _phone_of(database, test_keyring, member_a) == NEW_PHONE


async def test_the_sink_writes_private_files_and_refuses_what_is_not_a_number(
    tmp_path: Path,
) -> None:
    sink = TextFileSink(tmp_path / "sms")
    await sink.send(TextMessage(to=NEW_PHONE, body="Amanat: hello", category="test.hello"))
    (written,) = (tmp_path / "sms").glob("*.txt")
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "sms").stat().st_mode) == 0o700
    assert written.read_text().endswith("\n\nAmanat: hello\n")
    with pytest.raises(ValueError, match=r"E\.164") as refused:
        await sink.send(TextMessage(to="0300 9998887", body="x", category="test.hello"))
    assert "9998887" not in str(refused.value)
    assert NEW_PHONE not in repr(TextMessage(to=NEW_PHONE, body="secret 123456", category="x"))
    assert list((tmp_path / "sms").glob(".*")) == []  # no half-written file left behind
