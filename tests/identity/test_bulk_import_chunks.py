"""Bulk import (defect 16): an API token with `users:write` imports as it invites, one without
is refused; without `atomic` the caller ends each chunk's transaction (the command line commits
every 500 rows), with it nothing is ended before the whole import is."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from amanat.access.actors import Actor
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.settings import Settings
from amanat.identity.api_tokens import ApiScope, create_api_token
from amanat.identity.bulk_import import IMPORT_CHUNK, import_users
from amanat.identity.import_file import parse_import_file
from amanat.identity.models import User
from tests.support.identity import Person

pytestmark = pytest.mark.policy("§4 access controls: admin create users")

HEADER = "username,full_name,email\n"


def _actor(person: Person) -> Actor:
    return Actor(user_id=person.user_id, account_id=person.account_id, role=person.role)


async def _token(database: Database, person: Person, scope: ApiScope) -> str:
    async with database.sessionmaker() as session:
        _row, plaintext = await create_api_token(
            session, _actor(person), name="import script", scopes=[scope.value], valid_days=30
        )
        await session.commit()
        return plaintext


def _upload(count: int = 1) -> dict[str, tuple[str, bytes, str]]:
    rows = "".join(f"token-{n},Token Person,token-{n}@example.com\n" for n in range(count))
    return {"file": ("users.csv", (HEADER + rows).encode(), "text/csv")}


async def _users_of(database: Database, account_id: str) -> int:
    async with database.sessionmaker() as session:
        found = await session.scalar(
            select(func.count()).select_from(User).where(User.account_id == account_id)
        )
        return int(found or 0)


@pytest.mark.asvs("V8.2.1")
async def test_an_api_token_with_users_write_imports_and_one_without_is_refused(
    client: httpx.AsyncClient, database: Database, admin_a: Person
) -> None:
    before = await _users_of(database, admin_a.account_id)
    reader = await _token(database, admin_a, ApiScope.USERS_READ)
    refused = await client.post(
        "/api/v1/users/import",
        files=_upload(),
        headers={"authorization": f"Bearer {reader}"},
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == "insufficient_scope"
    assert await _users_of(database, admin_a.account_id) == before

    writer = await _token(database, admin_a, ApiScope.USERS_WRITE)
    done = await client.post(
        "/api/v1/users/import",
        files=_upload(2),
        headers={"authorization": f"Bearer {writer}"},
    )
    assert done.status_code == 200, done.text
    assert [row["username"] for row in done.json()["created"]] == ["token-0", "token-1"]
    assert await _users_of(database, admin_a.account_id) == before + 2


@pytest.mark.parametrize("atomic", [False, True])
async def test_each_chunk_ends_its_transaction_unless_atomic(
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    admin_a: Person,
    atomic: bool,
) -> None:
    total = IMPORT_CHUNK * 2 + 100
    rows = "".join(f"chunk-{n},Chunk Person,chunk-{n}@example.com\n" for n in range(total))
    before = await _users_of(database, admin_a.account_id)
    seen_by_others: list[int] = []
    async with database.sessionmaker() as session:

        async def commit() -> None:
            await session.commit()
            # Another connection sees what each chunk kept as soon as it is done.
            seen_by_others.append(await _users_of(database, admin_a.account_id) - before)

        report = await import_users(
            session,
            test_keyring,
            settings,
            _actor(admin_a),
            account_id=admin_a.account_id,
            rows=parse_import_file((HEADER + rows).encode()),
            atomic=atomic,
            after_chunk=commit,
        )
        await session.commit()
    assert len(report.created) == total
    assert seen_by_others == ([] if atomic else [IMPORT_CHUNK, IMPORT_CHUNK * 2, total])
