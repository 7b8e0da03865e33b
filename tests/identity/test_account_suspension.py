"""Platform admins suspend and reactivate customer accounts: a suspended account is out of use at
once (sessions, API tokens, sign-in, emailed links, sign-up verification), and both actions are
audited with a reason (ASVS V7.4.2, V8.2.1)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from amanat.access.actors import OPERATOR, Actor
from amanat.access.roles import Role
from amanat.audit.models import AuditRecord
from amanat.comms.models import OutboxMessage
from amanat.comms.outbox import decrypt_message
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.errors import Forbidden, InvalidInput
from amanat.core.settings import Settings
from amanat.identity import recovery, signin, signup
from amanat.identity.accounts import (
    platform_account,
    reactivate_customer_account,
    suspend_customer_account,
)
from amanat.identity.api_tokens import ApiScope, create_api_token
from amanat.identity.invitations import invite_user
from amanat.identity.models import ApiToken, CustomerAccount, OneTimeToken, User, UserSession
from amanat.identity.sessions import start_session
from amanat.identity.tokens import issue_one_time_token
from tests.support.identity import STRONG_PASSWORD, Person, load_user, make_user, sign_in

pytestmark = [
    pytest.mark.policy("§2 manage the respective customer account"),
    pytest.mark.asvs("V7.4.2", "V8.2.1"),
]


@pytest.fixture
async def platform_admin(
    database: Database, test_keyring: MasterKeyring, settings: Settings
) -> Person:
    return await make_user(
        database, test_keyring, settings, account_id=None, username="root", role=Role.PLATFORM_ADMIN
    )


def _without_request_id(response: httpx.Response) -> dict[str, object]:
    body = dict(response.json())
    body.pop("request_id", None)
    return body


async def _suspend(
    database: Database, ring: MasterKeyring, account_id: str, reason: str = "abuse"
) -> None:
    async with database.sessionmaker() as session:
        await suspend_customer_account(session, ring, OPERATOR, account_id, reason=reason)
        await session.commit()


async def _reactivate(database: Database, account_id: str) -> None:
    async with database.sessionmaker() as session:
        await reactivate_customer_account(session, OPERATOR, account_id, reason="issue_resolved")
        await session.commit()


async def _api_token(database: Database, person: Person) -> tuple[str, str]:
    async with database.sessionmaker() as session:
        row, plaintext = await create_api_token(
            session,
            Actor(person.user_id, person.account_id, person.role),
            name="nightly sync",
            scopes=[ApiScope.PROFILE_READ.value],
        )
        await session.commit()
        return row.id, plaintext


async def _links_of(database: Database, user_id: str) -> int:
    async with database.sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).select_from(OneTimeToken).where(OneTimeToken.user_id == user_id)
        )
        return int(count or 0)


async def _account_status(database: Database, account_id: str) -> str:
    async with database.sessionmaker() as session:
        account = await session.get(CustomerAccount, account_id)
        assert account is not None
        return account.status


async def test_suspension_ends_every_session_and_api_token_of_the_account_at_once(
    client: httpx.AsyncClient,
    new_client: Callable[..., httpx.AsyncClient],
    platform_admin: Person,
    admin_a: Person,
    member_a: Person,
    member_b: Person,
    database: Database,
) -> None:
    browsers = {person.username: new_client() for person in (admin_a, member_a, member_b)}
    for person in (admin_a, member_a, member_b):
        await sign_in(browsers[person.username], person, database)
    token_id, plaintext = await _api_token(database, member_a)
    _other_id, other_plaintext = await _api_token(database, member_b)
    bearer = {"authorization": f"Bearer {plaintext}"}
    assert (await client.get("/api/v1/me", headers=bearer)).status_code == 200

    await sign_in(client, platform_admin, database)
    done = await client.post(
        f"/api/v1/accounts/{admin_a.account_id}/suspend", json={"reason": "non_payment"}
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "suspended"

    for person in (admin_a, member_a):
        assert (await browsers[person.username].get("/api/v1/me")).status_code == 401
    async with new_client() as program:  # a program: no session cookie beside the bearer
        assert (await program.get("/api/v1/me", headers=bearer)).status_code == 401
        other = {"authorization": f"Bearer {other_plaintext}"}
        assert (await program.get("/api/v1/me", headers=other)).status_code == 200
    async with database.sessionmaker() as session:
        left = await session.scalar(
            select(func.count())
            .select_from(UserSession)
            .where(UserSession.account_id == admin_a.account_id)
        )
        token = await session.get(ApiToken, token_id)
    assert left == 0
    assert token is not None
    assert token.revoked_at is not None  # revoked, not only refused
    # Another account is untouched.
    assert (await browsers[member_b.username].get("/api/v1/me")).status_code == 200
    for browser in browsers.values():
        await browser.aclose()


async def test_a_session_or_token_made_during_a_suspension_is_refused_too(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    member_a: Person,
) -> None:
    # A sign-in racing the suspension could leave a session or token behind: the gate refuses it.
    await _suspend(database, test_keyring, member_a.account_id)
    async with database.sessionmaker() as session:
        user = await session.get(User, member_a.user_id)
        assert user is not None
        cookie, _row = await start_session(session, settings, user=user, stage="active")
        await session.commit()
    _token_id, plaintext = await _api_token(database, member_a)
    bearer = {"authorization": f"Bearer {plaintext}"}
    assert (await client.get("/api/v1/me", headers=bearer)).status_code == 401
    client.cookies.set("__Host-amanat_session", cookie)
    assert (await client.get("/api/v1/me")).status_code == 401
    async with database.sessionmaker() as session:
        assert (
            await session.scalar(
                select(func.count()).select_from(UserSession).where(UserSession.user_id == user.id)
            )
            == 0
        )  # the stray session is deleted on sight


@pytest.mark.asvs("V6.3.8")
async def test_sign_in_to_a_suspended_account_answers_like_a_wrong_password(
    new_client: Callable[..., httpx.AsyncClient],
    database: Database,
    test_keyring: MasterKeyring,
    member_a: Person,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await _suspend(database, test_keyring, member_a.account_id)
    # The same work on every path: one password verification and one account look-up.
    calls: list[str] = []
    real_matches, real_in_use = signin.password_matches, signin.account_in_use

    def counting_matches(user: User | None, password: str) -> tuple[bool, bool]:
        calls.append("hash")
        return real_matches(user, password)

    async def counting_in_use(session: Any, account_id: str | None) -> bool:
        calls.append("account")
        return await real_in_use(session, account_id)

    monkeypatch.setattr(signin, "password_matches", counting_matches)
    monkeypatch.setattr(signin, "account_in_use", counting_in_use)
    attempts = [
        ("nobody-here", "whatever whatever whatever"),
        (member_a.username, "wrong wrong wrong wrong"),
        (member_a.username, member_a.password),  # right password, suspended account
        (member_a.email, member_a.password),
    ]
    answers = []
    for number, (login, password) in enumerate(attempts):
        calls.clear()
        async with new_client(f"198.51.100.{70 + number}") as http:
            answers.append(
                await http.post("/api/v1/session", json={"login": login, "password": password})
            )
        assert calls == ["hash", "account"], login
    assert {response.status_code for response in answers} == {401}
    assert len({str(_without_request_id(r)) for r in answers}) == 1
    assert answers[0].json()["code"] == "signin_failed"
    assert all("set-cookie" not in r.headers for r in answers)


async def test_reactivation_restores_sign_in_but_not_what_was_ended(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    new_client: Callable[..., httpx.AsyncClient],
    platform_admin: Person,
    member_a: Person,
    database: Database,
) -> None:
    await sign_in(second_client, member_a, database)
    _token_id, plaintext = await _api_token(database, member_a)
    await sign_in(client, platform_admin, database)
    account = member_a.account_id
    assert (
        await client.post(f"/api/v1/accounts/{account}/suspend", json={"reason": "abuse"})
    ).status_code == 200
    again = await client.post(
        f"/api/v1/accounts/{account}/reactivate", json={"reason": "issue_resolved"}
    )
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "active"
    assert (await second_client.get("/api/v1/me")).status_code == 401  # the old session is gone
    bearer = {"authorization": f"Bearer {plaintext}"}
    async with new_client() as program:
        assert (await program.get("/api/v1/me", headers=bearer)).status_code == 401
    second_client.cookies.clear()
    await sign_in(second_client, member_a, database)
    assert (await second_client.get("/api/v1/me")).status_code == 200


async def test_invitation_and_reset_links_do_not_work_while_suspended(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    member_a: Person,
) -> None:
    async with database.sessionmaker() as session:
        _invited, invite = await invite_user(
            session,
            test_keyring,
            settings,
            OPERATOR,
            account_id=member_a.account_id,
            username="new-hire",
            full_name="Nadia Newhire",
            email="nadia@example.com",
            role=Role.MEMBER,
            send_mail=False,
        )
        user = await session.get(User, member_a.user_id)
        assert user is not None
        reset = await issue_one_time_token(
            session, user=user, purpose="password_reset", valid_for=timedelta(minutes=30)
        )
        await session.commit()
    await _suspend(database, test_keyring, member_a.account_id)
    issued_before = await _links_of(database, member_a.user_id)

    assert (await client.get(f"/invite/{invite}")).status_code == 422
    accept = await client.post(
        "/api/v1/invites/accept", json={"token": invite, "password": STRONG_PASSWORD}
    )
    assert accept.status_code == 422
    assert accept.json()["code"] == "link_invalid"
    assert (await client.get(f"/reset/{reset}")).status_code == 422
    complete = await client.post(
        "/api/v1/password-reset/complete",
        json={"token": reset, "new_password": "a different long passphrase here"},
    )
    assert complete.status_code == 422
    assert complete.json()["code"] == "link_invalid"
    # Asking for a new reset link answers alike and issues nothing.
    async with database.sessionmaker() as session:
        await recovery.request_password_reset(
            session, test_keyring, settings, login=member_a.username, client_address=None
        )
        await session.commit()
    assert await _links_of(database, member_a.user_id) == issued_before

    await _reactivate(database, member_a.account_id)
    # The links were refused, not used up: after reactivation they work again.
    assert (await client.get(f"/invite/{invite}")).status_code == 200
    accepted = await client.post(
        "/api/v1/invites/accept", json={"token": invite, "password": STRONG_PASSWORD}
    )
    assert accepted.status_code == 200, accepted.text


async def test_verification_of_a_suspended_sign_up_does_not_activate_it(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
) -> None:
    async with database.sessionmaker() as session:
        await signup.sign_up(
            session,
            test_keyring,
            settings.model_copy(update={"signup_enabled": True}),
            account_name="Spammy Traders",
            username="spammy-owner",
            full_name="Sara Spammy",
            email="sara.spammy@example.com",
            password=STRONG_PASSWORD,
            client_address=None,
        )
        owner = await session.scalar(select(User).where(User.username == "spammy-owner"))
        assert owner is not None
        link = await issue_one_time_token(
            session, user=owner, purpose="email_verification", valid_for=timedelta(hours=1)
        )
        await session.commit()
    account_id = owner.account_id
    assert await _account_status(database, account_id) == "pending_verification"
    await _suspend(database, test_keyring, account_id)

    refused = await client.post("/api/v1/signup/verify", json={"token": link})
    assert refused.status_code in (404, 422)  # 404 where sign-up is switched off
    async with database.sessionmaker() as session:
        with pytest.raises(InvalidInput):
            await signup.verify_email(session, token=link)
    assert await _account_status(database, account_id) == "suspended"
    assert (await load_user(database, owner.id)).status == "invited"

    # Reactivated, it waits for the confirmation again; the link then confirms it.
    await _reactivate(database, account_id)
    assert await _account_status(database, account_id) == "pending_verification"
    async with database.sessionmaker() as session:
        await signup.verify_email(session, token=link)
        await session.commit()
    assert await _account_status(database, account_id) == "active"


async def test_suspension_and_reactivation_are_audited_with_their_reason(
    client: httpx.AsyncClient, platform_admin: Person, member_a: Person, database: Database
) -> None:
    await sign_in(client, platform_admin, database)
    account = member_a.account_id
    await client.post(f"/api/v1/accounts/{account}/suspend", json={"reason": "security_incident"})
    await client.post(f"/api/v1/accounts/{account}/reactivate", json={"reason": "issue_resolved"})
    async with database.sessionmaker() as session:
        rows = (
            await session.scalars(
                select(AuditRecord)
                .where(AuditRecord.target_id == account, AuditRecord.action.like("account.%"))
                .order_by(AuditRecord.seq)
            )
        ).all()
    assert [row.action for row in rows][-2:] == ["account.suspend", "account.reactivate"]
    suspended, reactivated = rows[-2:]
    assert suspended.actor_id == reactivated.actor_id == platform_admin.user_id
    assert json.loads(suspended.details)["reason"] == "security_incident"
    assert json.loads(suspended.details)["previous_status"] == "active"
    assert json.loads(reactivated.details)["reason"] == "issue_resolved"


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.MEMBER])
async def test_customer_users_cannot_suspend_or_reactivate_accounts(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    account_a: str,
    role: Role,
) -> None:
    person = await make_user(
        database,
        test_keyring,
        settings,
        account_id=account_a,
        username=f"a-{role.value}",
        role=role,
    )
    await sign_in(client, person, database)
    for action, reason in (("suspend", "abuse"), ("reactivate", "issue_resolved")):
        response = await client.post(
            f"/api/v1/accounts/{account_a}/{action}", json={"reason": reason}
        )
        assert response.status_code == 403
        assert response.headers["content-type"].startswith("application/problem+json")
    assert await _account_status(database, account_a) == "active"


@pytest.mark.parametrize("role", [Role.SUPPORT_AGENT, Role.PRIVACY_OFFICER, Role.COMMUNICATIONS])
async def test_other_staff_roles_cannot_suspend_accounts(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    account_a: str,
    role: Role,
) -> None:
    staff = await make_user(
        database, test_keyring, settings, account_id=None, username=f"s-{role.value}", role=role
    )
    await sign_in(client, staff, database)
    response = await client.post(f"/api/v1/accounts/{account_a}/suspend", json={"reason": "abuse"})
    assert response.status_code == 403
    assert (await client.get("/admin/accounts")).status_code == 403
    # The service refuses too, whatever door is used.
    async with database.sessionmaker() as session:
        with pytest.raises(Forbidden):
            await suspend_customer_account(
                session,
                test_keyring,
                Actor(staff.user_id, staff.account_id, role),
                account_a,
                reason="abuse",
            )
    assert await _account_status(database, account_a) == "active"


async def test_the_platform_account_cannot_be_suspended_and_bad_requests_are_refused(
    client: httpx.AsyncClient, platform_admin: Person, account_a: str, database: Database
) -> None:
    await sign_in(client, platform_admin, database)
    async with database.sessionmaker() as session:
        platform_id = (await platform_account(session)).id
    own = await client.post(f"/api/v1/accounts/{platform_id}/suspend", json={"reason": "abuse"})
    assert own.status_code == 404
    assert own.json()["code"] == "account_not_found"
    assert await _account_status(database, platform_id) == "active"
    assert (await client.get("/api/v1/me")).status_code == 200
    unknown = await client.post("/api/v1/accounts/no-such-id/suspend", json={"reason": "abuse"})
    assert unknown.status_code == 404
    bad_reason = await client.post(
        f"/api/v1/accounts/{account_a}/suspend", json={"reason": "bored"}
    )
    assert bad_reason.status_code == 422
    assert bad_reason.headers["content-type"].startswith("application/problem+json")
    not_suspended = await client.post(
        f"/api/v1/accounts/{account_a}/reactivate", json={"reason": "issue_resolved"}
    )
    assert not_suspended.status_code == 409
    assert not_suspended.json()["code"] == "not_suspended"
    first = await client.post(f"/api/v1/accounts/{account_a}/suspend", json={"reason": "abuse"})
    assert first.status_code == 200
    twice = await client.post(f"/api/v1/accounts/{account_a}/suspend", json={"reason": "abuse"})
    assert twice.status_code == 409
    listed = {row["id"]: row["status"] for row in (await client.get("/api/v1/accounts")).json()}
    assert listed[account_a] == "suspended"


async def test_platform_admin_suspends_and_reactivates_on_the_accounts_page(
    client: httpx.AsyncClient, platform_admin: Person, member_a: Person, database: Database
) -> None:
    csrf = await sign_in(client, platform_admin, database)
    account = member_a.account_id
    page = await client.get(f"/admin/accounts/{account}")
    assert f'href="/admin/accounts/{account}/suspend"' in page.text
    assert '<dd data-status="active">Active</dd>' in page.text
    forged = await client.post(
        f"/admin/accounts/{account}/suspend",
        data={"csrf_token": "forged", "reason": "abuse", "confirmed": "yes"},
        headers={"x-csrf-token": ""},
    )
    assert forged.status_code == 403
    assert await _account_status(database, account) == "active"
    done = await client.post(
        f"/admin/accounts/{account}/suspend",
        data={"csrf_token": csrf, "reason": "abuse", "confirmed": "yes"},
        headers={"x-csrf-token": ""},
    )
    assert done.status_code == 303
    assert await _account_status(database, account) == "suspended"
    page = await client.get(f"/admin/accounts/{account}")
    assert '<dd data-status="suspended">Suspended</dd>' in page.text
    assert f'action="/admin/accounts/{account}/reactivate"' in page.text
    back = await client.post(
        f"/admin/accounts/{account}/reactivate",
        data={"csrf_token": csrf, "reason": "payment_received"},
        headers={"x-csrf-token": ""},
    )
    assert back.status_code == 303
    assert await _account_status(database, account) == "active"


async def test_an_account_admin_cannot_use_the_accounts_page_buttons(
    client: httpx.AsyncClient, admin_a: Person, database: Database
) -> None:
    csrf = await sign_in(client, admin_a, database)
    response = await client.post(
        f"/admin/accounts/{admin_a.account_id}/suspend",
        data={"csrf_token": csrf, "reason": "abuse"},
        headers={"x-csrf-token": ""},
    )
    assert response.status_code == 403
    assert await _account_status(database, admin_a.account_id) == "active"


async def test_a_contact_confirmation_link_does_not_work_while_suspended(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    member_a: Person,
) -> None:
    await sign_in(client, member_a, database)
    asked = await client.put(
        "/api/v1/me/profile",
        json={"email": "bilal.new@example.org", "current_password": member_a.password},
    )
    assert asked.status_code == 200, asked.text
    async with database.sessionmaker() as session:
        rows = await session.scalars(
            select(OutboxMessage).order_by(OutboxMessage.created_at.desc())
        )
        bodies = [decrypt_message(test_keyring, row).body for row in rows]
    found = next(
        match for body in bodies if (match := re.search(r"/confirm-contact/([A-Za-z0-9_-]+)", body))
    )
    link = f"/confirm-contact/{found.group(1)}"
    await _suspend(database, test_keyring, member_a.account_id)
    client.cookies.clear()
    assert (await client.get(link)).status_code == 422
    await _reactivate(database, member_a.account_id)
    assert (await client.get(link)).status_code == 200
