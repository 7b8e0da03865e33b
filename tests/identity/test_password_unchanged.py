"""A new password must differ from the current one, whichever door sets it (ASVS V6.2.3); and
a change while signed in is mailed to the owner, as a reset is (V6.3.7)."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import httpx
import pytest
from sqlalchemy import select

from amanat.comms.delivery import deliver_due
from amanat.comms.models import OutboxMessage
from amanat.comms.outbox import decrypt_message
from amanat.comms.transports import transport_from_settings
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.settings import Settings
from amanat.identity.hashing import hash_password
from amanat.identity.models import User
from amanat.identity.password_policy import common_passwords, normalize_password
from tests.support.identity import Person, load_user, sign_in

pytestmark = pytest.mark.policy("§4 user responsibility")

NEW_PASSWORD = "violet tundra lantern mosaic quill"
UNCHANGED_MESSAGE = "The new password is the same as the current one."


async def _change(client: httpx.AsyncClient, current: str, new: str) -> httpx.Response:
    return await client.post(
        "/api/v1/me/password", json={"current_password": current, "new_password": new}
    )


def _assert_unchanged(response: httpx.Response) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "password_unchanged"
    assert body["field"] == "new_password"
    assert body["detail"].startswith(UNCHANGED_MESSAGE)
    assert [p["code"] for p in body["problems"]] == ["password_unchanged"]


@pytest.mark.asvs("V6.2.3")
async def test_the_api_refuses_the_current_password_as_the_new_one(
    client: httpx.AsyncClient, database: Database, member_a: Person
) -> None:
    await sign_in(client, member_a, database)
    before = (await load_user(database, member_a.user_id)).password_hash
    _assert_unchanged(await _change(client, member_a.password, member_a.password))
    # NFKC: the same password typed in full-width letters is the same password.
    full_width = member_a.password.replace("o", "\uff4f")
    assert normalize_password(full_width) == member_a.password
    _assert_unchanged(await _change(client, member_a.password, full_width))
    assert (await load_user(database, member_a.user_id)).password_hash == before
    assert (await _change(client, member_a.password, NEW_PASSWORD)).status_code == 200


@pytest.mark.asvs("V6.2.3")
async def test_the_page_refuses_the_current_password_as_the_new_one(
    client: httpx.AsyncClient, database: Database, member_a: Person
) -> None:
    csrf = await sign_in(client, member_a, database)
    page = await client.post(
        "/account/password",
        data={
            "csrf_token": csrf,
            "current_password": member_a.password,
            "new_password": member_a.password,
        },
    )
    assert page.status_code == 422
    assert UNCHANGED_MESSAGE in page.text
    assert member_a.password not in page.text


@pytest.mark.asvs("V6.2.3")
async def test_a_forced_change_cannot_be_skipped_with_the_same_password(
    client: httpx.AsyncClient, database: Database, member_a: Person
) -> None:
    # What an admin's "force password change" leaves on the user (the service also ends their
    # sessions and mails them; both are tested with it).
    async with database.sessionmaker() as session:
        user = await session.get(User, member_a.user_id)
        assert user is not None
        user.must_change_password = True
        await session.commit()
    await sign_in(client, member_a, database)
    assert (await client.get("/api/v1/users")).status_code == 403  # held at the change
    _assert_unchanged(await _change(client, member_a.password, member_a.password))
    assert (await load_user(database, member_a.user_id)).must_change_password
    assert (await _change(client, member_a.password, NEW_PASSWORD)).status_code == 200
    assert not (await load_user(database, member_a.user_id)).must_change_password


@pytest.mark.asvs("V6.2.3", "V6.2.10")
async def test_a_change_forced_by_the_common_list_cannot_keep_that_password(
    client: httpx.AsyncClient, database: Database, member_a: Person
) -> None:
    leaked = next(p for p in sorted(common_passwords()) if len(p) >= 10 and p.isalpha())
    async with database.sessionmaker() as session:
        user = await session.get(User, member_a.user_id)
        assert user is not None
        user.password_hash = hash_password(normalize_password(leaked))
        await session.commit()
    member_a.password = leaked
    await sign_in(client, member_a, database)
    assert (await load_user(database, member_a.user_id)).must_change_password
    _assert_unchanged(await _change(client, leaked, leaked))
    assert (await load_user(database, member_a.user_id)).must_change_password


@pytest.mark.asvs("V6.2.3")
async def test_a_reset_refuses_the_current_password_and_keeps_the_link(
    client: httpx.AsyncClient, database: Database, test_keyring: MasterKeyring, member_a: Person
) -> None:
    assert (
        await client.post("/api/v1/password-reset", json={"login": member_a.username})
    ).status_code == 202
    async with database.sessionmaker() as session:
        row = await session.scalar(
            select(OutboxMessage).where(OutboxMessage.category == "identity.password_reset")
        )
        assert row is not None
        body = decrypt_message(test_keyring, row).body
    token = next(line for line in body.splitlines() if "/reset/" in line).split("/reset/", 1)[1]
    same = await client.post(
        "/api/v1/password-reset/complete",
        json={"token": token.strip(), "new_password": member_a.password},
    )
    _assert_unchanged(same)
    done = await client.post(
        "/api/v1/password-reset/complete",
        json={"token": token.strip(), "new_password": NEW_PASSWORD},
    )
    assert done.status_code == 200


async def _delivered_mails(
    database: Database, ring: MasterKeyring, settings: Settings
) -> list[EmailMessage]:
    """Deliver the outbox into the mail sink (.eml files in the data directory) and read it."""
    await deliver_due(database, ring, transport_from_settings(settings))
    directory = settings.data_dir / "mail"
    mails: list[EmailMessage] = []
    for path in sorted(directory.glob("*.eml")) if directory.is_dir() else []:
        message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        assert isinstance(message, EmailMessage)
        mails.append(message)
    return mails


def _changed_notices(mails: list[EmailMessage]) -> list[EmailMessage]:
    return [m for m in mails if m["Subject"] == "Amanat: your password was changed"]


def _text(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


@pytest.mark.asvs("V6.3.7")
async def test_a_change_through_the_api_is_mailed_to_the_owner(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    member_a: Person,
) -> None:
    await sign_in(client, member_a, database)
    assert _changed_notices(await _delivered_mails(database, test_keyring, settings)) == []
    assert (await _change(client, member_a.password, NEW_PASSWORD)).status_code == 200
    notices = _changed_notices(await _delivered_mails(database, test_keyring, settings))
    assert [notice["To"] for notice in notices] == [member_a.email]
    text = _text(notices[0])
    assert member_a.username in text
    assert "changed by someone signed in" in text
    assert "second factor is unchanged" in text
    assert "reset link" not in text
    assert NEW_PASSWORD not in text
    assert member_a.password not in text


@pytest.mark.asvs("V6.3.7")
async def test_a_change_on_the_page_is_mailed_and_a_refused_one_is_not(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    member_a: Person,
) -> None:
    csrf = await sign_in(client, member_a, database)
    form = {"csrf_token": csrf, "current_password": member_a.password}
    refused = await client.post("/account/password", data={**form, "new_password": "short"})
    assert refused.status_code == 422
    assert _changed_notices(await _delivered_mails(database, test_keyring, settings)) == []
    done = await client.post(
        "/account/password",
        data={**form, "new_password": NEW_PASSWORD, "end_other_sessions": "yes"},
    )
    assert done.status_code == 303
    notices = _changed_notices(await _delivered_mails(database, test_keyring, settings))
    assert [notice["To"] for notice in notices] == [member_a.email]
    assert "changed by someone signed in" in _text(notices[0])
