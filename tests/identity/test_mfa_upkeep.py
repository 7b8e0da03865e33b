"""The person keeps their second factor in order: how many recovery codes are left, new ones
(shown once after the redirect, downloaded or printed from that page only), and a new
authenticator app; each only after a confirmation page with the password and a current code."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import select

from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.identity.models import RecoveryCode
from tests.activity.helpers import queued_mails
from tests.support.identity import (
    Person,
    forget_used_totp_steps,
    load_user,
    next_totp,
    sign_in,
)

pytestmark = [pytest.mark.policy("§4 user responsibility: strong passwords, updated")]

CODE_SHAPE = re.compile(r"<code>([a-z0-9]{5}(?:-[a-z0-9]{5}){5})</code>")


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


async def _unused_codes(database: Database, user_id: str) -> int:
    async with database.sessionmaker() as session:
        rows = await session.scalars(
            select(RecoveryCode).where(
                RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
            )
        )
        return len(list(rows))


async def _reauth(database: Database, person: Person, csrf: str) -> dict[str, str]:
    assert person.totp_secret is not None
    await forget_used_totp_steps(database, person.user_id)
    return {
        "csrf_token": csrf,
        "confirmed": "yes",
        "current_password": person.password,
        "code": next_totp(person.totp_secret, 0),
    }


async def test_new_recovery_codes_are_shown_once_after_the_redirect_and_the_old_stop_working(
    client: httpx.AsyncClient, member_a: Person, database: Database, test_keyring: MasterKeyring
) -> None:
    csrf = await sign_in(client, member_a, database)
    client.headers.pop("x-csrf-token")
    account = await client.get("/account")
    assert 'data-testid="codes-left">10<' in account.text
    assert 'href="/account/mfa/recovery-codes/new"' in account.text
    first = (
        await client.post(
            "/api/v1/me/mfa/recovery-codes",
            json={
                "current_password": member_a.password,
                "code": next_totp(member_a.totp_secret or "", 1),
            },
            headers={"x-csrf-token": csrf},
        )
    ).json()["recovery_codes"]

    confirm = await client.get("/account/mfa/recovery-codes/new")
    assert confirm.status_code == 200
    assert "Every recovery code you have now stops working" in confirm.text
    assert 'name="current_password"' in confirm.text
    unconfirmed = await client.post(
        "/account/mfa/recovery-codes/new",
        data={**await _reauth(database, member_a, csrf), "confirmed": ""},
    )
    assert unconfirmed.status_code == 422
    wrong = await client.post(
        "/account/mfa/recovery-codes/new",
        data={**await _reauth(database, member_a, csrf), "current_password": "not it at all"},
    )
    assert wrong.status_code == 422
    assert "The current password is not right." in wrong.text
    assert 'data-testid="codes-left"' not in wrong.text

    made = await client.post(
        "/account/mfa/recovery-codes/new", data=await _reauth(database, member_a, csrf)
    )
    assert made.status_code == 303
    assert made.headers["location"] == "/account/mfa/recovery-codes"
    assert not CODE_SHAPE.search(str(made.headers))  # not in the URL, not in a cookie
    shown = await client.get("/account/mfa/recovery-codes")
    codes = CODE_SHAPE.findall(shown.text)
    assert len(codes) == 10
    assert "New recovery codes made. The old ones no longer work." in shown.text
    assert 'src="/static/print.js" nonce="' in shown.text
    assert "data-print" in shown.text
    again = await client.get("/account/mfa/recovery-codes")
    assert CODE_SHAPE.findall(again.text) == []  # a reload shows nothing
    assert 'data-testid="codes-left">10<' in again.text

    download = await client.post("/account/mfa/recovery-codes/download", data={"csrf_token": csrf})
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/plain")
    assert download.headers["content-disposition"] == (
        'attachment; filename="amanat-recovery-codes.txt"'
    )
    assert all(code in download.text for code in codes)
    twice = await client.post("/account/mfa/recovery-codes/download", data={"csrf_token": csrf})
    assert twice.status_code == 303
    assert codes[0] not in twice.text

    mails = await queued_mails(database, test_keyring, "identity.recovery_codes_new")
    assert len(mails) == 2
    assert mails[-1].to == member_a.email
    assert codes[0] not in mails[-1].body

    # The codes of the API's round no longer work; one of the page's does, once.
    await client.post("/signout", data={"csrf_token": csrf})
    for code, status in ((first[0], 401), (codes[0], 200), (codes[0], 401)):
        started = await client.post(
            "/api/v1/session", json={"login": member_a.username, "password": member_a.password}
        )
        done = await client.post(
            "/api/v1/session/second-factor",
            json={"code": code},
            headers={"x-csrf-token": started.json()["csrf_token"]},
        )
        assert done.status_code == status, code
    assert await _unused_codes(database, member_a.user_id) == 9


async def test_the_api_tells_the_codes_left_and_makes_new_ones_after_reauthentication(
    client: httpx.AsyncClient, member_a: Person, database: Database
) -> None:
    await sign_in(client, member_a, database)
    status = await client.get("/api/v1/me/mfa")
    assert status.status_code == 200
    assert status.json()["enabled"] is True
    assert status.json()["recovery_codes_left"] == 10
    wrong = await client.post(
        "/api/v1/me/mfa/recovery-codes",
        json={"current_password": member_a.password, "code": "000000"},
    )
    assert wrong.status_code == 422
    assert wrong.headers["content-type"].startswith("application/problem+json")
    assert wrong.json()["code"] == "mfa_failed"
    made = await client.post(
        "/api/v1/me/mfa/recovery-codes",
        json={
            "current_password": member_a.password,
            "code": next_totp(member_a.totp_secret or "", 1),
        },
    )
    assert made.status_code == 200
    assert len(made.json()["recovery_codes"]) == 10


async def test_replacing_the_authenticator_needs_reauthentication_and_a_code_of_the_new_app(
    client: httpx.AsyncClient, member_a: Person, database: Database, test_keyring: MasterKeyring
) -> None:
    csrf = await sign_in(client, member_a, database)
    client.headers.pop("x-csrf-token")
    old_secret = (await load_user(database, member_a.user_id)).totp_secret
    account = await client.get("/account")
    assert 'href="/account/mfa/replace"' in account.text
    confirm = await client.get("/account/mfa/replace")
    assert "only the new app&#39;s codes work" in confirm.text
    started = await client.post(
        "/account/mfa/replace", data=await _reauth(database, member_a, csrf)
    )
    assert started.status_code == 303
    assert started.headers["location"] == "/account/mfa/replace/new"
    page = await client.get("/account/mfa/replace/new")
    found = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', page.text)
    assert found is not None
    new_secret = found.group(1)
    assert 'src="data:image/svg+xml;base64,' in page.text
    # Until the new app proves itself, the old one stays.
    assert (await load_user(database, member_a.user_id)).totp_secret == old_secret
    refused = await client.post(
        "/account/mfa/replace/new", data={"csrf_token": csrf, "code": "000000"}
    )
    assert refused.status_code == 422
    done = await client.post(
        "/account/mfa/replace/new",
        data={"csrf_token": csrf, "code": next_totp(new_secret, 0)},
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/account"
    after = await client.get("/account")
    assert "Authenticator app replaced. The old app&#39;s codes no longer work." in after.text
    assert (await load_user(database, member_a.user_id)).totp_secret != old_secret
    [mail] = await queued_mails(database, test_keyring, "identity.authenticator_replaced")
    assert mail.to == member_a.email
    assert new_secret not in mail.body

    await client.post("/signout", data={"csrf_token": csrf})
    for secret, status in ((member_a.totp_secret or "", 401), (new_secret, 200)):
        started_signin = await client.post(
            "/api/v1/session", json={"login": member_a.username, "password": member_a.password}
        )
        answer = await client.post(
            "/api/v1/session/second-factor",
            json={"code": next_totp(secret, 1)},
            headers={"x-csrf-token": started_signin.json()["csrf_token"]},
        )
        assert answer.status_code == status
