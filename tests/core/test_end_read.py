"""Ending a read early (before a password hash) keeps what was read and refuses to drop
anything not yet written."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from amanat.core.clock import utcnow
from amanat.core.db import Database, end_read_before_slow_work
from amanat.core.ids import new_id
from amanat.identity.models import CustomerAccount


async def test_a_session_that_only_read_ends_its_transaction_and_keeps_its_objects(
    database: Database,
) -> None:
    account_id = new_id()
    async with database.sessionmaker() as session:
        session.add(
            CustomerAccount(
                id=account_id, kind="customer", name="Early", status="active", created_at=utcnow()
            )
        )
        await session.commit()
        account = await session.scalar(
            select(CustomerAccount).where(CustomerAccount.id == account_id)
        )
        assert account is not None
        await end_read_before_slow_work(session)
        assert not session.in_transaction()
        assert account.name == "Early"  # still loaded, no lazy load needed


async def test_it_refuses_when_something_is_waiting_to_be_written(database: Database) -> None:
    async with database.sessionmaker() as session:
        session.add(
            CustomerAccount(
                id=new_id(), kind="customer", name="Pending", status="active", created_at=utcnow()
            )
        )
        with pytest.raises(RuntimeError, match="written nothing"):
            await end_read_before_slow_work(session)
