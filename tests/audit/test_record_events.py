"""Several audit records appended together (a bulk import's invitations) are chained exactly
as if appended one by one, and a bad entry among them appends none."""

from __future__ import annotations

import itertools

import pytest

from amanat.audit.actors import AuditActor
from amanat.audit.chain import chain_head, verify_chain
from amanat.audit.reading import list_records
from amanat.audit.records import AuditEntry, record_event, record_events
from amanat.core.db import Database
from amanat.core.ids import new_id

ADMIN = AuditActor(user_id=new_id(), role="admin")


def _entry(number: int, **changes: object) -> AuditEntry:
    fields: dict[str, object] = {
        "actor": ADMIN,
        "action": "user.invite",
        "account_id": new_id(),
        "target_type": "user",
        "target_id": new_id(),
        "details": {"role": "member", "number": number},
    }
    fields.update(changes)
    return AuditEntry(**fields)  # type: ignore[arg-type]


@pytest.mark.asvs("V16.4.2")
async def test_records_appended_together_form_one_valid_chain(database: Database) -> None:
    async with database.sessionmaker() as session:
        await record_event(session, actor=ADMIN, action="user.suspend", account_id=new_id())
        records = await record_events(session, [_entry(number) for number in range(5)])
        await record_event(session, actor=ADMIN, action="user.reactivate", account_id=new_id())
        await session.commit()

    assert [record.seq for record in records] == list(range(records[0].seq, records[0].seq + 5))
    for earlier, later in itertools.pairwise(records):
        assert later.prev_hash == earlier.hash
    report = await verify_chain(database)
    assert report.ok, report.detail
    async with database.sessionmaker() as session:
        seq, _hash = await chain_head(session)
    assert seq == records[-1].seq + 1


async def test_one_bad_entry_appends_none_of_them(database: Database) -> None:
    async with database.sessionmaker() as session:
        before, _hash = await chain_head(session)
        entries = [_entry(0), _entry(1, details={"ratio": 0.5}), _entry(2)]
        with pytest.raises(ValueError, match="audit detail"):
            await record_events(session, entries)
        after, _hash = await chain_head(session)
        listed = await list_records(session, account_id=str(entries[0].account_id))
    assert after == before
    assert listed == []


async def test_nothing_to_append_touches_nothing(database: Database) -> None:
    async with database.sessionmaker() as session:
        before = await chain_head(session)
        assert await record_events(session, []) == []
        assert await chain_head(session) == before
