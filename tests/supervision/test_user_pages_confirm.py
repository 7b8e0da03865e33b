"""The admin's user page: disruptive actions ask first, every action says what it did, a
reload repeats nothing, and only the buttons the viewer may use are shown (issue 11)."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import func, select

from amanat.access.actors import Actor
from amanat.access.roles import Role
from amanat.audit.models import AuditRecord
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.errors import AmanatError
from amanat.core.settings import Settings
from amanat.identity.user_management import change_role
from amanat.identity.user_rules import roles_to_give
from amanat.identity.users import get_user_for
from tests.support.identity import Person, load_user, make_user, sign_in

pytestmark = pytest.mark.policy("§4 access controls: admin create users and supervise them")


@pytest.fixture
async def owner_a(
    database: Database, test_keyring: MasterKeyring, settings: Settings, account_a: str
) -> Person:
    return await make_user(
        database, test_keyring, settings, account_id=account_a, username="owner-a", role=Role.OWNER
    )


async def _audit_count(database: Database) -> int:
    async with database.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(AuditRecord)) or 0)


def _buttons(html: str) -> set[str]:
    return set(re.findall(r'data-action="([a-z-]+)"', html))


async def test_suspend_asks_first_then_acts_once_and_says_so(
    client: httpx.AsyncClient, admin_a: Person, member_a: Person, database: Database
) -> None:
    csrf = await sign_in(client, admin_a, database)
    page = await client.get(f"/admin/users/{member_a.user_id}")
    # The button leads to the confirmation page; it does not post the action itself.
    assert f'action="/admin/users/{member_a.user_id}/suspend" class="inline">\n    <button' in (
        page.text
    )
    confirm = await client.get(f"/admin/users/{member_a.user_id}/suspend")
    assert confirm.status_code == 200
    assert "signs them out everywhere" in confirm.text
    assert "they will be mailed" in confirm.text
    assert 'name="confirmed" value="yes"' in confirm.text
    assert member_a.username in confirm.text

    bare = await client.post(f"/admin/users/{member_a.user_id}/suspend", data={"csrf_token": csrf})
    assert bare.status_code == 422
    assert (await load_user(database, member_a.user_id)).status == "active"

    done = await client.post(
        f"/admin/users/{member_a.user_id}/suspend", data={"csrf_token": csrf, "confirmed": "yes"}
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/admin/users/{member_a.user_id}"
    after = await client.get(done.headers["location"])
    assert "member-a is suspended and signed out everywhere; they were mailed." in after.text
    assert 'data-testid="status">Suspended' in after.text
    # The message is shown once, and reloading the page repeats nothing.
    recorded = await _audit_count(database)
    again = await client.get(done.headers["location"])
    assert "they were mailed" not in again.text
    assert await _audit_count(database) == recorded
    # A suspended user offers "Reactivate", which needs no confirmation, and no "Suspend".
    assert "reactivate" in _buttons(again.text)
    assert "suspend" not in _buttons(again.text)
    assert (await client.get(f"/admin/users/{member_a.user_id}/reactivate")).status_code == 404
    back = await client.post(
        f"/admin/users/{member_a.user_id}/reactivate", data={"csrf_token": csrf}
    )
    assert back.status_code == 303
    assert "member-a is active again." in (await client.get(back.headers["location"])).text


@pytest.mark.parametrize(
    ("action", "says"),
    [
        ("revoke-sessions", "signs them out everywhere"),
        ("force-password-change", "they must choose a new password at their next sign-in"),
        ("reset-mfa", "removes their authenticator and recovery codes"),
        ("remove", "cannot be undone"),
    ],
)
async def test_each_disruptive_action_has_a_confirmation_page(
    client: httpx.AsyncClient,
    admin_a: Person,
    member_a: Person,
    database: Database,
    action: str,
    says: str,
) -> None:
    csrf = await sign_in(client, admin_a, database)
    confirm = await client.get(f"/admin/users/{member_a.user_id}/{action}")
    assert confirm.status_code == 200
    assert says in confirm.text
    assert "selected disabled" not in confirm.text  # no reason asked, none preselected
    recorded = await _audit_count(database)
    refused = await client.post(
        f"/admin/users/{member_a.user_id}/{action}", data={"csrf_token": csrf}
    )
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("text/html")
    assert await _audit_count(database) == recorded
    done = await client.post(
        f"/admin/users/{member_a.user_id}/{action}", data={"csrf_token": csrf, "confirmed": "yes"}
    )
    assert done.status_code == 303
    landed = await client.get(done.headers["location"])
    assert landed.status_code == 200
    assert '<p class="notice" role="status">' in landed.text  # it says what was done
    if action == "remove":
        assert done.headers["location"] == "/admin/users"
        assert "Removed member-a; their personal data is erased." in landed.text


async def test_buttons_the_viewer_may_not_use_are_not_shown(
    client: httpx.AsyncClient,
    admin_a: Person,
    owner_a: Person,
    member_a: Person,
    database: Database,
) -> None:
    await sign_in(client, admin_a, database)
    own = await client.get(f"/admin/users/{admin_a.user_id}")
    assert _buttons(own.text) <= {"unlock"}  # nothing one may not do to oneself
    assert 'data-testid="role-form"' not in own.text
    owner = await client.get(f"/admin/users/{owner_a.user_id}")
    assert not {"suspend", "remove"} & _buttons(owner.text)  # an owner is an owner's business
    assert 'data-testid="role-form"' not in owner.text
    member = await client.get(f"/admin/users/{member_a.user_id}")
    assert {"suspend", "remove", "revoke-sessions", "force-password-change"} <= _buttons(
        member.text
    )
    # An admin without the right to grant admin has no other role to give a member.
    assert 'data-testid="role-form"' not in member.text
    assert 'data-testid="role">Member' in member.text
    # Nor is there a confirmation page for what the page does not offer.
    assert (await client.get(f"/admin/users/{admin_a.user_id}/remove")).status_code == 403
    assert (await client.get(f"/admin/users/{owner_a.user_id}/suspend")).status_code == 403


async def test_an_owner_changes_a_role_in_words(
    client: httpx.AsyncClient, owner_a: Person, member_a: Person, database: Database
) -> None:
    csrf = await sign_in(client, owner_a, database)
    page = await client.get(f"/admin/users/{member_a.user_id}")
    assert 'data-testid="role-form"' in page.text
    assert '<option value="admin">Administrator</option>' in page.text
    assert '<option value="member">' not in page.text  # the role they hold already
    done = await client.post(
        f"/admin/users/{member_a.user_id}/role", data={"csrf_token": csrf, "role": "admin"}
    )
    assert done.status_code == 303
    after = await client.get(done.headers["location"])
    assert "Role changed to Administrator" in after.text
    assert 'data-testid="role">Administrator' in after.text
    assert (await load_user(database, member_a.user_id)).role == Role.ADMIN
    wrong = await client.post(
        f"/admin/users/{member_a.user_id}/role", data={"csrf_token": csrf, "role": "superuser"}
    )
    assert wrong.status_code == 422


@pytest.mark.parametrize("viewer", ["owner", "admin"])
async def test_the_roles_offered_are_exactly_the_roles_the_service_accepts(
    database: Database,
    owner_a: Person,
    admin_a: Person,
    member_a: Person,
    viewer: str,
) -> None:
    actor_person = owner_a if viewer == "owner" else admin_a
    actor = Actor(actor_person.user_id, actor_person.account_id, actor_person.role)
    for target in (owner_a, admin_a, member_a):
        async with database.sessionmaker() as session:
            user = await get_user_for(session, actor, target.user_id)
            offered = set(await roles_to_give(session, actor, user))
        accepted = set()
        for role in Role:
            if role == target.role:
                continue
            async with database.sessionmaker() as session:
                try:
                    await change_role(session, actor, target.user_id, role)
                except AmanatError:
                    pass
                else:
                    accepted.add(role)
                await session.rollback()
        assert offered == accepted, (viewer, target.username)
