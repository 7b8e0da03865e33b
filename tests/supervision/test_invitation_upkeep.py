"""Pending invitations: the admin sees when each runs out, sends one again (a new link; the old
one dies) or withdraws it (the pending user and their data go); API and pages alike (issue 11)."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from amanat.audit.models import AuditRecord
from amanat.comms.models import OutboxMessage
from amanat.comms.outbox import decrypt_message
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.identity.models import OneTimeToken, User
from tests.support.identity import Person, load_user, sign_in

pytestmark = pytest.mark.policy("§4 access controls: admin create users")

EMAIL = "hina.invited@gmail.com"


async def _invite(client: httpx.AsyncClient, username: str = "hina-invited") -> str:
    created = await client.post(
        "/api/v1/users",
        json={"username": username, "full_name": "Hina Invited", "email": EMAIL, "role": "member"},
    )
    assert created.status_code == 201, created.text
    user_id: str = created.json()["id"]
    return user_id


async def _links(database: Database, ring: MasterKeyring) -> list[str]:
    """The invitation links mailed to EMAIL, oldest first."""
    async with database.sessionmaker() as session:
        rows = (
            await session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.category == "identity.invite")
                .order_by(OutboxMessage.created_at)
            )
        ).all()
        messages = [decrypt_message(ring, row) for row in rows]
    return [
        next(line for line in m.body.splitlines() if "/invite/" in line)
        .strip()
        .split("/invite/")[1]
        for m in messages
        if m.to == EMAIL
    ]


async def _actions(database: Database, user_id: str) -> list[str]:
    async with database.sessionmaker() as session:
        rows = await session.scalars(
            select(AuditRecord.action)
            .where(AuditRecord.target_id == user_id)
            .order_by(AuditRecord.seq)
        )
        return list(rows)


async def _expiry(database: Database, user_id: str) -> datetime:
    async with database.sessionmaker() as session:
        found = await session.scalar(
            select(OneTimeToken.expires_at).where(
                OneTimeToken.user_id == user_id, OneTimeToken.used_at.is_(None)
            )
        )
        assert found is not None
        return found


async def test_resend_gives_a_new_link_and_kills_the_old_one(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    admin_a: Person,
    database: Database,
    test_keyring: MasterKeyring,
) -> None:
    await sign_in(client, admin_a, database)
    user_id = await _invite(client)
    [first] = await _links(database, test_keyring)
    first_expiry = await _expiry(database, user_id)
    async with database.sessionmaker() as session:
        # Time passes: the first link is nearly spent.
        for row in (await session.scalars(select(OneTimeToken))).all():
            row.expires_at = row.expires_at - timedelta(hours=70)
        await session.commit()
    sent = await client.post(f"/api/v1/users/{user_id}/invitation/resend")
    assert sent.status_code == 200, sent.text
    body = sent.json()
    assert body["email"] == "h***@gmail.com"
    assert EMAIL not in sent.text
    links = await _links(database, test_keyring)
    assert len(links) == 2
    assert links[0] == first
    assert (await second_client.get(f"/invite/{first}")).status_code >= 400
    assert (await second_client.get(f"/invite/{links[1]}")).status_code == 200
    assert await _expiry(database, user_id) >= first_expiry - timedelta(seconds=5)
    assert "user.invite_resend" in await _actions(database, user_id)


async def test_cancel_removes_the_pending_user_and_the_link(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    admin_a: Person,
    database: Database,
    test_keyring: MasterKeyring,
) -> None:
    await sign_in(client, admin_a, database)
    user_id = await _invite(client)
    [link] = await _links(database, test_keyring)
    gone = await client.delete(f"/api/v1/users/{user_id}/invitation")
    assert gone.status_code == 204
    assert (await second_client.get(f"/invite/{link}")).status_code >= 400
    listed = await client.get("/api/v1/users")
    assert "hina-invited" not in {row["username"] for row in listed.json()}
    user = await load_user(database, user_id)
    assert (user.status, user.person_id) == ("erased", None)
    assert "user.invite_cancel" in await _actions(database, user_id)
    # The username is free again.
    assert await _invite(client) != user_id


async def test_only_a_pending_user_of_ones_own_account_has_an_invitation(
    client: httpx.AsyncClient,
    admin_a: Person,
    member_a: Person,
    member_b: Person,
    database: Database,
) -> None:
    await sign_in(client, admin_a, database)
    for user_id in (member_a.user_id, member_b.user_id, "no-such-user"):
        resent = await client.post(f"/api/v1/users/{user_id}/invitation/resend")
        assert resent.status_code == 404, user_id
        cancelled = await client.delete(f"/api/v1/users/{user_id}/invitation")
        assert cancelled.status_code == 404, user_id
    assert (await load_user(database, member_a.user_id)).status == "active"


async def test_the_pages_show_expiry_resend_and_cancel_with_messages(
    client: httpx.AsyncClient,
    admin_a: Person,
    database: Database,
    test_keyring: MasterKeyring,
) -> None:
    csrf = await sign_in(client, admin_a, database)
    invited = await client.post(
        "/admin/users",
        data={
            "csrf_token": csrf,
            "username": "hina-invited",
            "full_name": "Hina Invited",
            "email": EMAIL,
            "role": "member",
        },
    )
    assert invited.status_code == 303
    user_page = await client.get(invited.headers["location"])
    assert "Invitation sent to h***@gmail.com" in user_page.text
    user_id = invited.headers["location"].rsplit("/", 1)[1]
    assert 'data-testid="invitation">expires <time datetime="' in user_page.text

    listing = await client.get("/admin/users")
    assert 'data-testid="pending-invitations"' in listing.text
    assert "expires <time" in listing.text
    assert f'action="/admin/users/{user_id}/resend-invitation"' in listing.text

    resent = await client.post(
        f"/admin/users/{user_id}/resend-invitation", data={"csrf_token": csrf, "back": "list"}
    )
    assert resent.status_code == 303
    assert resent.headers["location"] == "/admin/users"
    assert "Invitation sent to h***@gmail.com" in (await client.get("/admin/users")).text
    assert len(await _links(database, test_keyring)) == 2

    confirm = await client.get(f"/admin/users/{user_id}/cancel-invitation")
    assert confirm.status_code == 200
    assert "the invitation link stops working" in confirm.text
    refused = await client.post(
        f"/admin/users/{user_id}/cancel-invitation", data={"csrf_token": csrf}
    )
    assert refused.status_code == 422
    done = await client.post(
        f"/admin/users/{user_id}/cancel-invitation", data={"csrf_token": csrf, "confirmed": "yes"}
    )
    assert done.status_code == 303
    after = await client.get(done.headers["location"])
    assert "Invitation for hina-invited withdrawn." in after.text
    assert 'data-testid="pending-invitations"' not in after.text
    async with database.sessionmaker() as session:
        assert await session.scalar(select(User).where(User.username == "hina-invited")) is None
