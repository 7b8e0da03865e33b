"""The request's database session: its commit is part of the answer, not an afterthought."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from amanat.core.clock import utcnow
from amanat.core.ids import new_id
from amanat.identity.models import CustomerAccount
from amanat.web.deps import DbSession


def _account(account_id: str) -> CustomerAccount:
    return CustomerAccount(
        id=account_id, kind="customer", name="Row Holder", status="active", created_at=utcnow()
    )


@pytest.fixture
async def http(app: Any) -> Any:
    @app.post("/api/v1/test-write-twice")
    async def write_twice(session: DbSession) -> dict[str, str]:
        # Two rows with one primary key: nothing fails until the commit flushes them.
        account_id = new_id()
        session.add(_account(account_id))
        session.add(_account(account_id))
        return {"written": account_id}

    @app.post("/api/v1/test-write-once")
    async def write_once(session: DbSession) -> dict[str, str]:
        account_id = new_id()
        session.add(_account(account_id))
        return {"written": account_id}

    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        yield client


async def test_a_failed_commit_is_an_error_answer_not_a_success(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/v1/test-write-twice")
    assert response.status_code >= 500
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "written" not in response.text


async def test_what_a_request_wrote_is_committed_before_its_answer_arrives(
    http: httpx.AsyncClient, database: Any
) -> None:
    response = await http.post("/api/v1/test-write-once")
    assert response.status_code == 200
    account_id = response.json()["written"]
    # The very next read, from another session, sees the row: the commit came first.
    async with database.sessionmaker() as session:
        found = await session.scalar(
            select(CustomerAccount.id).where(CustomerAccount.id == account_id)
        )
    assert found == account_id
