"""No door of one customer account tells whether an email, CNIC or username exists in another
(issue 11, defect 2): the answer to a value another account holds equals the answer to a free
one, on every door that takes these fields, and on every read that follows.

The property is checked with two accounts of the same name, each with an admin and a member:
the first enters a value nobody holds (the fresh answer), the second enters the very same value,
which the first now holds (the held answer). With ids, times and the accounts' own usernames
put aside, both answers and every later read of the admin's must be equal."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from amanat.access.actors import OPERATOR
from amanat.access.roles import Role
from amanat.audit.models import AuditRecord
from amanat.comms.models import OutboxMessage
from amanat.comms.outbox import EmailMessageData, decrypt_message
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.settings import Settings
from amanat.identity.invitations import accept_invite, invite_user
from amanat.identity.models import User
from amanat.people.blind_index import find_person_id_by_cnic, find_person_id_by_email
from amanat.people.personal_data import read_person
from tests.support.identity import Person, make_account, make_user, sign_in

pytestmark = pytest.mark.policy("§4 access controls: admin create users")

ACCOUNT_NAME = "Same Name Traders"
PASSWORD = "correct horse battery staple orbit"
NEW_PASSWORD = "another long passphrase entirely"
SHARED = {"email": "shared@example.com", "cnic": "35202-7654321-3", "username": "shared-name"}
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?")
_CLOCK = re.compile(r"\b\d{1,2}:\d{2}\b")
_SECRETS = re.compile(r'(name="csrf_token" value=|nonce=|"request_id":\s?)"[^"]*"')
_REPORT_KEY = re.compile(r"/admin/imports/[A-Za-z0-9_-]+")


@dataclass
class World:
    """One customer account as its admin sees it: the admin's browser, and its member."""

    tag: str
    admin: Person
    member: Person
    client: httpx.AsyncClient

    def own(self, text: str) -> str:
        """``text`` with this world's own names, ids and times put aside."""
        for name, placeholder in (
            (f"admin-{self.tag}", "<admin>"),
            (f"member-{self.tag}", "<member>"),
            (f"inv-{self.tag}", "<invitee>"),
        ):
            text = text.replace(name, placeholder)
        text = _SECRETS.sub(r'\1"<secret>"', text)
        text = _REPORT_KEY.sub("/admin/imports/<key>", text)
        return _CLOCK.sub("<clock>", _TIME.sub("<time>", _UUID.sub("<id>", text)))


async def _world(
    tag: str,
    database: Database,
    ring: MasterKeyring,
    settings: Settings,
    new_client: Callable[..., httpx.AsyncClient],
) -> World:
    account = await make_account(database, ACCOUNT_NAME)
    admin = await make_user(
        database,
        ring,
        settings,
        account_id=account,
        username=f"admin-{tag}",
        email=f"admin-{tag}@example.com",
        role=Role.ADMIN,
        full_name="Ayesha Admin",
    )
    member = await make_user(
        database,
        ring,
        settings,
        account_id=account,
        username=f"member-{tag}",
        email=f"member-{tag}@example.com",
        full_name="Bilal Member",
        mfa=False,
    )
    client = new_client()
    await sign_in(client, admin, database)
    return World(tag, admin, member, client)


def _invitee(world: World, field: str) -> dict[str, str]:
    """The invitation's fields: the shared value under test, the world's own for the rest
    (an own email masks like the other world's: same first letter and domain)."""
    given = {
        "username": f"inv-{world.tag}",
        "full_name": "Hina Khan",
        "email": f"inv-{world.tag}@example.com",
    }
    if field == "cnic":
        given["cnic"] = SHARED["cnic"]
    else:
        given[field] = SHARED[field]
    return given


def _csv(row: dict[str, str]) -> bytes:
    columns = ["username", "full_name", "email", "cnic"]
    line = ",".join(row.get(column, "") for column in columns)
    return (",".join(columns) + "\n" + line + "\n").encode()


async def _new_user_id(database: Database, world: World) -> str | None:
    """The newest user of the world's account other than its admin and member."""
    async with database.sessionmaker() as session:
        found: str | None = await session.scalar(
            select(User.id)
            .where(
                User.account_id == world.admin.account_id,
                User.id.not_in([world.admin.user_id, world.member.user_id]),
            )
            .order_by(User.created_at.desc())
            .limit(1)
        )
        return found


Door = Callable[[World, str], Awaitable[httpx.Response]]


async def _api_invite(world: World, field: str) -> httpx.Response:
    return await world.client.post(
        "/api/v1/users", json={**_invitee(world, field), "role": "member"}
    )


async def _page_invite(world: World, field: str) -> httpx.Response:
    form = {**_invitee(world, field), "role": "member"}
    return await world.client.post("/admin/users", data=form, follow_redirects=True)


async def _api_import(world: World, field: str) -> httpx.Response:
    upload = {"file": ("users.csv", _csv(_invitee(world, field)), "text/csv")}
    return await world.client.post("/api/v1/users/import", files=upload)


async def _page_import(world: World, field: str) -> httpx.Response:
    upload = {"file": ("users.csv", _csv(_invitee(world, field)), "text/csv")}
    return await world.client.post(
        "/admin/imports", files=upload, data={"mode": "import"}, follow_redirects=True
    )


async def _page_dry_run(world: World, field: str) -> httpx.Response:
    upload = {"file": ("users.csv", _csv(_invitee(world, field)), "text/csv")}
    return await world.client.post("/admin/imports", files=upload, data={"mode": "dry-run"})


async def _api_correct(world: World, field: str) -> httpx.Response:
    return await world.client.patch(
        f"/api/v1/users/{world.member.user_id}/personal-data", json={field: SHARED[field]}
    )


async def _page_correct(world: World, field: str) -> httpx.Response:
    return await world.client.post(
        f"/admin/users/{world.member.user_id}/personal-data",
        data={field: SHARED[field], "back": "user"},
        follow_redirects=True,
    )


DOORS: dict[str, Door] = {
    "api_invite": _api_invite,
    "page_invite": _page_invite,
    "api_import": _api_import,
    "page_import": _page_import,
    "page_dry_run": _page_dry_run,
    "api_correct": _api_correct,
    "page_correct": _page_correct,
}
CASES = [
    (door, field)
    for door in DOORS
    for field in ("email", "cnic", "username")
    if not door.endswith("_correct") or field == "cnic"  # admins correct the CNIC only
]


async def _seen(database: Database, world: World, answer: httpx.Response) -> dict[str, Any]:
    """Everything the admin sees: the answer, then the user, the list and the pages."""
    seen: dict[str, Any] = {"status": answer.status_code, "answer": world.own(answer.text)}
    user_id = await _new_user_id(database, world)
    if user_id is None:  # a correction, or nothing was kept (a dry run)
        user_id = world.member.user_id
    reads = [
        f"/api/v1/users/{user_id}",
        "/api/v1/users",
        f"/admin/users/{user_id}",
        f"/admin/users/{user_id}/personal-data",
        "/admin/users",
        "/api/v1/people/export.csv",
    ]
    for path in reads:
        response = await world.client.get(path)
        seen[path.replace(user_id, "<id>")] = (response.status_code, world.own(response.text))
    for criterion in ("email", "cnic"):
        found = await world.client.post(
            "/api/v1/people/search", json={criterion: SHARED[criterion]}
        )
        seen[f"search:{criterion}"] = (found.status_code, world.own(found.text))
    async with database.sessionmaker() as session:
        # The account's own audit log: the ordinary event only, never the held claim.
        seen["audit"] = list(
            await session.scalars(
                select(AuditRecord.action)
                .where(AuditRecord.account_id == world.admin.account_id)
                .where(AuditRecord.actor_id == world.admin.user_id)
                .order_by(AuditRecord.seq)
            )
        )
    return seen


@pytest.mark.asvs("V8.2.2", "V6.3.8")
@pytest.mark.parametrize(("door", "field"), CASES)
async def test_a_value_another_account_holds_gets_the_answer_of_a_free_one(
    door: str,
    field: str,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    new_client: Callable[..., httpx.AsyncClient],
) -> None:
    first = await _world("first", database, test_keyring, settings, new_client)
    second = await _world("second", database, test_keyring, settings, new_client)
    fresh = await _seen(database, first, await DOORS[door](first, field))
    if door != "page_dry_run":
        assert fresh["status"] in (200, 201), fresh["answer"]
    else:  # a dry run keeps nothing: let the first account hold the value for good
        await _api_invite(first, field)
    held = await _seen(database, second, await DOORS[door](second, field))
    assert held == fresh


async def _mails(
    database: Database, ring: MasterKeyring, category: str | None = None
) -> list[EmailMessageData]:
    async with database.sessionmaker() as session:
        statement = select(OutboxMessage).order_by(OutboxMessage.created_at)
        if category is not None:
            statement = statement.where(OutboxMessage.category == category)
        return [decrypt_message(ring, row) for row in await session.scalars(statement)]


# ---- what happens out of band ------------------------------------------------------------


@pytest.fixture
async def holder(database: Database, test_keyring: MasterKeyring, settings: Settings) -> Person:
    """A member of account A holding the shared email, CNIC and username."""
    account = await make_account(database, "Acme Cloud Traders")
    async with database.sessionmaker() as session:
        user, token = await invite_user(
            session,
            test_keyring,
            settings,
            OPERATOR,
            account_id=account,
            username=SHARED["username"],
            full_name="Hina Khan",
            email=SHARED["email"],
            cnic=SHARED["cnic"],
            role=Role.MEMBER,
        )
        await accept_invite(session, test_keyring, settings, token=token, password=PASSWORD)
        await session.commit()
    return Person(
        user.id, account, SHARED["username"], SHARED["email"], PASSWORD, None, Role.MEMBER
    )


async def _invite_held(
    database: Database, ring: MasterKeyring, settings: Settings, account_id: str, **given: str
) -> tuple[User, str]:
    fields = {"username": "newcomer", "email": "nadia@example.com", **given}
    async with database.sessionmaker() as session:
        user, token = await invite_user(
            session,
            ring,
            settings,
            OPERATOR,
            account_id=account_id,
            role=Role.MEMBER,
            full_name="Nadia Bibi",
            username=fields["username"],
            email=fields["email"],
            cnic=fields.get("cnic"),
        )
        await session.commit()
        return user, token


async def _snapshot(database: Database, ring: MasterKeyring, holder: Person) -> Any:
    async with database.sessionmaker() as session:
        user = await session.get(User, holder.user_id)
        assert user is not None
        assert user.person_id is not None
        person = await read_person(session, ring, user.person_id)
        return (user.username, user.status, user.password_hash, user.updated_at, person)


@pytest.mark.asvs("V6.3.8")
@pytest.mark.parametrize("field", ["email", "cnic"])
async def test_the_holder_is_mailed_and_nothing_of_theirs_changes(
    field: str,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    holder: Person,
    admin_b: Person,
    client: httpx.AsyncClient,
    new_client: Callable[..., httpx.AsyncClient],
) -> None:
    before = await _snapshot(database, test_keyring, holder)
    await sign_in(client, admin_b, database)
    answer = await client.post(
        "/api/v1/users",
        json={
            "username": "newcomer",
            "full_name": "Nadia Bibi",
            "email": SHARED["email"] if field == "email" else "nadia@example.com",
            "cnic": SHARED["cnic"] if field == "cnic" else None,
            "role": "member",
        },
    )
    assert answer.status_code == 201, answer.text
    assert await _snapshot(database, test_keyring, holder) == before
    template = "claim_attempt" if field == "email" else "claim_attempt_cnic"
    warnings = await _mails(database, test_keyring, f"identity.{template}")
    assert [mail.to for mail in warnings] == [SHARED["email"]]
    assert "nothing of yours has changed" in warnings[0].body.lower().replace("\n", " ")
    invitations_sent = await _mails(database, test_keyring, "identity.invite")
    sent_to = [mail.to for mail in invitations_sent]
    # The held mailbox gets the warning, never an invitation it could use.
    assert sent_to.count(SHARED["email"]) == 1  # the holder's own invitation, long ago
    assert ("nadia@example.com" in sent_to) == (field == "cnic")
    async with database.sessionmaker() as session:
        # Look-ups find the holder only, whatever the held copy.
        assert await find_person_id_by_email(session, test_keyring, SHARED["email"]) == (
            (await session.get(User, holder.user_id)).person_id  # type: ignore[union-attr]
        )
        assert await find_person_id_by_cnic(session, test_keyring, SHARED["cnic"]) == (
            (await session.get(User, holder.user_id)).person_id  # type: ignore[union-attr]
        )
        claims = list(
            await session.scalars(
                select(AuditRecord).where(AuditRecord.action == "identity.claim_held")
            )
        )
    assert len(claims) == 1
    assert claims[0].account_id is None
    assert json.loads(claims[0].details)["field"] == field
    # The holder still signs in, by email and by username.
    for login in (SHARED["email"], SHARED["username"]):
        async with new_client() as other:
            signed = await other.post(
                "/api/v1/session", json={"login": login, "password": holder.password}
            )
            assert signed.status_code == 200, signed.text


@pytest.mark.asvs("V6.4.1")
async def test_an_invitation_with_a_held_email_can_never_be_accepted(
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    holder: Person,
    account_b: str,
    client: httpx.AsyncClient,
) -> None:
    _user, token = await _invite_held(
        database, test_keyring, settings, account_b, email=SHARED["email"]
    )
    refused = await client.post(
        "/api/v1/invites/accept",
        json={"token": token, "password": NEW_PASSWORD},
    )
    assert (refused.status_code, refused.json()["code"]) == (422, "link_invalid")
    page = await client.get(f"/invite/{token}")
    assert page.status_code == 422
    async with database.sessionmaker() as session:
        holders = await session.scalars(select(User).where(User.status == "active"))
        assert SHARED["email"] not in [
            (await read_person(session, test_keyring, u.person_id)).email
            for u in holders
            if u.person_id and u.id != holder.user_id
        ]


async def test_a_held_username_is_chosen_anew_on_accepting(
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    holder: Person,
    account_b: str,
    client: httpx.AsyncClient,
    new_client: Callable[..., httpx.AsyncClient],
) -> None:
    user, token = await _invite_held(
        database, test_keyring, settings, account_b, username=SHARED["username"]
    )
    assert user.username == SHARED["username"]  # shown to the admin as asked
    mail = (await _mails(database, test_keyring, "identity.invite"))[-1]
    assert mail.to == "nadia@example.com"
    assert "choose your own" in mail.body
    form = await client.get(f"/invite/{token}")
    assert form.status_code == 200
    assert 'name="username"' in form.text
    password = NEW_PASSWORD
    missing = await client.post(
        "/api/v1/invites/accept", json={"token": token, "password": password}
    )
    assert (missing.status_code, missing.json()["code"]) == (422, "username_required")
    taken = await client.post(
        "/api/v1/invites/accept",
        json={"token": token, "password": password, "username": SHARED["username"]},
    )
    assert (taken.status_code, taken.json()["code"]) == (409, "username_taken")
    done = await client.post(
        "/api/v1/invites/accept",
        json={"token": token, "password": password, "username": "nadia-b"},
    )
    assert done.status_code == 200, done.text
    async with database.sessionmaker() as session:
        accepted = await session.get(User, user.id)
        assert accepted is not None
        assert (accepted.username, accepted.username_held) == ("nadia-b", False)
    # Each signs in with their own login: the invitee with the chosen one, the holder as ever.
    for login, secret, wanted in (
        ("nadia-b", password, user.id),
        (SHARED["username"], holder.password, holder.user_id),
    ):
        async with new_client() as other:
            signed = await other.post("/api/v1/session", json={"login": login, "password": secret})
            assert signed.status_code == 200, signed.text
        async with database.sessionmaker() as session:
            signed_in = await session.get(User, wanted)
            assert signed_in is not None
            assert signed_in.last_signin_at is not None


async def test_a_held_cnic_never_merges_with_its_holder(
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    holder: Person,
    account_b: str,
    client: httpx.AsyncClient,
) -> None:
    _user, token = await _invite_held(
        database, test_keyring, settings, account_b, cnic=SHARED["cnic"]
    )
    password = NEW_PASSWORD
    done = await client.post("/api/v1/invites/accept", json={"token": token, "password": password})
    assert done.status_code == 200, done.text
    signed = await client.post(
        "/api/v1/session", json={"login": "nadia@example.com", "password": password}
    )
    assert signed.status_code == 200, signed.text
    me = await client.get("/api/v1/me")
    assert me.json()["username"] == "newcomer"
    async with database.sessionmaker() as session:
        holder_row = await session.get(User, holder.user_id)
        assert holder_row is not None
        found = await find_person_id_by_cnic(session, test_keyring, SHARED["cnic"])
        assert found == holder_row.person_id


@pytest.mark.parametrize("field", ["email", "cnic", "username"])
async def test_a_conflict_within_the_same_account_is_still_reported(
    field: str,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    holder: Person,
    client: httpx.AsyncClient,
) -> None:
    admin = await make_user(
        database,
        test_keyring,
        settings,
        account_id=holder.account_id,
        username="admin-holder",
        role=Role.ADMIN,
    )
    await sign_in(client, admin, database)
    given = {"username": "newcomer", "full_name": "Nadia Bibi", "email": "nadia@example.com"}
    given[field] = SHARED[field]
    refused = await client.post("/api/v1/users", json={**given, "role": "member"})
    assert refused.status_code == 409
    assert (refused.json()["code"], refused.json()["field"]) == (f"{field}_taken", field)
    assert not await _mails(database, test_keyring, "identity.claim_attempt")


@pytest.mark.asvs("V6.4.1")
async def test_resending_an_invitation_to_a_held_email_mails_nothing_there(
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    holder: Person,
    admin_b: Person,
    account_b: str,
    client: httpx.AsyncClient,
) -> None:
    held, _token = await _invite_held(
        database, test_keyring, settings, account_b, email=SHARED["email"]
    )
    fresh, _ = await _invite_held(
        database, test_keyring, settings, account_b, username="fresh1", email="fresh@example.com"
    )
    await sign_in(client, admin_b, database)
    before = [mail.to for mail in await _mails(database, test_keyring, "identity.invite")]
    answers = [
        await client.post(f"/api/v1/users/{user.id}/invitation/resend") for user in (held, fresh)
    ]
    # The admin is answered alike for both...
    assert [answer.status_code for answer in answers] == [200, 200], answers[0].text
    assert set(answers[0].json()) == set(answers[1].json())
    # ...but only the free address gets a new link; the holder's mailbox gets none.
    after = [mail.to for mail in await _mails(database, test_keyring, "identity.invite")]
    assert after[len(before) :] == ["fresh@example.com"]
