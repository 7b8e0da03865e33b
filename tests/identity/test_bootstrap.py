"""The first administrator: no default account, only a one-time link (ASVS V6.3.2)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from amanat.access.roles import Role
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.settings import Settings
from amanat.identity.bootstrap import create_platform_admin, first_admin_link
from amanat.identity.models import User
from tests.support.identity import STRONG_PASSWORD
from tests.support.processes import amanat_env, run_amanat

pytestmark = pytest.mark.asvs("V6.3.2", "V6.4.1")


async def _link(database: Database, settings: Settings) -> str | None:
    async with database.sessionmaker() as session:
        link = await first_admin_link(session, settings)
        await session.commit()
        return link


async def test_empty_database_gives_a_link_and_a_new_one_replaces_it(
    database: Database, settings: Settings, client: httpx.AsyncClient
) -> None:
    first = await _link(database, settings)
    second = await _link(database, settings)
    assert first is not None
    assert second is not None
    assert first != second
    old = await client.get(first.replace(settings.base_url, ""))
    assert old.status_code == 422  # the earlier link stopped working
    page = await client.get(second.replace(settings.base_url, ""))
    assert page.status_code == 200
    assert 'name="full_name"' in page.text  # the first admin gives name and email here
    async with database.sessionmaker() as session:
        admin = await session.scalar(select(User).where(User.username == "admin"))
        assert admin is not None
        assert admin.role == Role.PLATFORM_ADMIN
        assert admin.password_hash is None  # no default password, ever


async def test_the_link_sets_name_email_and_password_then_no_more_links(
    database: Database, settings: Settings, client: httpx.AsyncClient
) -> None:
    link = await _link(database, settings)
    assert link is not None
    path = link.replace(settings.base_url, "")
    form = await client.get(path)
    csrf = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    done = await client.post(
        path,
        data={
            "csrf_token": csrf,
            "full_name": "Platform Boss",
            "email": "boss@example.com",
            "password": STRONG_PASSWORD,
        },
    )
    assert done.status_code == 200, done.text
    assert "Your password is set" in done.text
    assert await _link(database, settings) is None
    signed = await client.post(
        "/api/v1/session", json={"login": "boss@example.com", "password": STRONG_PASSWORD}
    )
    assert signed.status_code == 200
    assert signed.json()["needs_mfa_enrolment"] is True  # staff always need a second factor


async def test_a_weak_password_on_the_first_admin_form_is_refused_and_nothing_kept(
    database: Database, settings: Settings, client: httpx.AsyncClient
) -> None:
    link = await _link(database, settings)
    assert link is not None
    path = link.replace(settings.base_url, "")
    csrf = (await client.get(path)).text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    refused = await client.post(
        path,
        data={
            "csrf_token": csrf,
            "full_name": "Platform Boss",
            "email": "boss@example.com",
            "password": "password",
        },
    )
    assert refused.status_code == 422
    async with database.sessionmaker() as session:
        admin = await session.scalar(select(User).where(User.username == "admin"))
        assert admin is not None
        assert admin.person_id is None  # the person was not half-created
    again = await client.post(
        path,
        data={
            "csrf_token": csrf,
            "full_name": "Platform Boss",
            "email": "boss@example.com",
            "password": STRONG_PASSWORD,
        },
    )
    assert again.status_code == 200


async def test_invite_form_without_the_csrf_cookie_is_refused(
    database: Database, settings: Settings, client: httpx.AsyncClient
) -> None:
    link = await _link(database, settings)
    assert link is not None
    refused = await client.post(
        link.replace(settings.base_url, ""),
        data={
            "csrf_token": "forged",
            "password": STRONG_PASSWORD,
            "full_name": "X",
            "email": "x@example.com",
        },
    )
    assert refused.status_code == 403


async def test_created_admin_has_an_invitation_link(
    database: Database, settings: Settings, test_keyring: MasterKeyring
) -> None:
    async with database.sessionmaker() as session:
        user, link = await create_platform_admin(
            session,
            test_keyring,
            settings,
            username="root",
            email="root@example.com",
            full_name="Root Person",
        )
    assert user.status == "invited"
    assert link.startswith(f"{settings.base_url}/invite/")


def test_admin_create_command_prints_a_one_time_link(tmp_path: Path) -> None:
    env = amanat_env(tmp_path / "data")
    result = run_amanat(
        ["admin", "create", "--username", "root", "--email", "root@example.com"],
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "/invite/" in result.stdout.strip().splitlines()[-1]
    again = run_amanat(
        ["admin", "create", "--username", "root", "--email", "other@example.com"],
        cwd=tmp_path,
        env=env,
    )
    assert again.returncode == 2
    assert "already taken" in again.stderr


async def test_the_first_admin_gives_the_identity_fields_the_operator_requires(
    database: Database, verifying_settings: Settings, verifying_client: httpx.AsyncClient
) -> None:
    link = await _link(database, verifying_settings)
    assert link is not None
    path = link.replace(verifying_settings.base_url, "")
    form = await verifying_client.get(path)
    assert 'name="phone"' in form.text
    assert 'name="cnic"' in form.text
    csrf = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    entries = {
        "csrf_token": csrf,
        "full_name": "Platform Boss",
        "email": "boss@example.com",
        "password": STRONG_PASSWORD,
        "phone": "0300 1234567",
    }
    refused = await verifying_client.post(path, data=entries)
    assert refused.status_code == 422
    assert "CNIC" in refused.text
    assert 'value="0300 1234567"' in refused.text  # their own entries come back to them
    async with database.sessionmaker() as session:
        admin = await session.scalar(select(User).where(User.username == "admin"))
        assert admin is not None
        assert admin.person_id is None  # nothing was stored
    done = await verifying_client.post(path, data={**entries, "cnic": "35202-1234567-1"})
    assert done.status_code == 200, done.text
    assert "Your password is set" in done.text
