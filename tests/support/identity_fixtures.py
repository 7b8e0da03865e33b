"""Identity fixtures: a customer account with an owner, an admin and a member."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from amanat.access.roles import Role
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.settings import Settings
from amanat.web.app import create_app
from tests.support.identity import Person, make_account, make_user


@pytest.fixture
async def account_a(database: Database) -> str:
    return await make_account(database, "Acme Cloud Traders")


@pytest.fixture
async def account_b(database: Database) -> str:
    return await make_account(database, "Beta Logistics")


@pytest.fixture
async def admin_a(
    database: Database, test_keyring: MasterKeyring, settings: Settings, account_a: str
) -> Person:
    return await make_user(
        database,
        test_keyring,
        settings,
        account_id=account_a,
        username="admin-a",
        role=Role.ADMIN,
        full_name="Ayesha Admin",
    )


@pytest.fixture
async def member_a(
    database: Database, test_keyring: MasterKeyring, settings: Settings, account_a: str
) -> Person:
    return await make_user(
        database,
        test_keyring,
        settings,
        account_id=account_a,
        username="member-a",
        role=Role.MEMBER,
        full_name="Bilal Member",
    )


@pytest.fixture
async def admin_b(
    database: Database, test_keyring: MasterKeyring, settings: Settings, account_b: str
) -> Person:
    return await make_user(
        database,
        test_keyring,
        settings,
        account_id=account_b,
        username="admin-b",
        role=Role.ADMIN,
        full_name="Bushra Admin",
    )


@pytest.fixture
async def member_b(
    database: Database, test_keyring: MasterKeyring, settings: Settings, account_b: str
) -> Person:
    return await make_user(
        database,
        test_keyring,
        settings,
        account_id=account_b,
        username="member-b",
        role=Role.MEMBER,
        full_name="Danish Member",
    )


@pytest.fixture
def new_client(app: Any) -> Callable[..., Any]:
    """More browsers on the same app (each its own cookie jar)."""
    clients: list[httpx.AsyncClient] = []

    def make(address: str = "127.0.0.1") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 50001))
        client = httpx.AsyncClient(transport=transport, base_url="https://testserver")
        clients.append(client)
        return client

    return make


@pytest.fixture
async def second_client(new_client: Callable[..., httpx.AsyncClient]) -> AsyncIterator[Any]:
    client = new_client()
    async with client:
        yield client


@pytest.fixture
def verifying_settings(tmp_path: Path) -> Settings:
    """An operator who requires phone and CNIC for identity verification."""
    return Settings(
        data_dir=tmp_path / "verifying",
        environment="development",
        require_identity_fields=["phone", "cnic"],
    )


@pytest.fixture
async def verifying_client(
    verifying_settings: Settings, database: Database, test_keyring: MasterKeyring
) -> AsyncIterator[httpx.AsyncClient]:
    """A browser on a server run with `verifying_settings` (same database; the fixtures' users
    are made under the default settings, which require nothing)."""
    app = create_app(verifying_settings, database=database, keyring=test_keyring)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50003))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
        yield http
