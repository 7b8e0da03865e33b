"""The audit log is a hash chain: each record is linked to the one before, and any change,
removal or reordering is found by `verify_chain`, which names the first bad record."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest
import structlog
from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from structlog.testing import capture_logs

from amanat.audit.actors import OPERATOR, AuditActor
from amanat.audit.chain import GENESIS_HASH, chain_head, log_chain_head, verify_chain
from amanat.audit.models import AuditRecord
from amanat.audit.reading import export_records, list_records
from amanat.audit.records import record_event
from amanat.core.db import Database, UTCDateTime, sessionmaker_for
from amanat.core.ids import new_id

ADMIN = AuditActor(user_id=new_id(), role="platform_admin")


async def _append(session: AsyncSession, count: int, **fields: Any) -> list[AuditRecord]:
    records = []
    for number in range(count):
        records.append(
            await record_event(
                session,
                actor=ADMIN,
                action="user.suspend",
                account_id=fields.get("account_id", new_id()),
                target_type="user",
                target_id=fields.get("target_id", new_id()),
                purpose="support_ticket",
                details={"ticket_id": new_id(), "attempt": number, "mfa": True, "note": None},
            )
        )
    return records


async def _tamper(session: AsyncSession, sql: str, **values: Any) -> None:
    """Raw SQL on purpose: this is the tampering the chain must reveal."""
    statement = text(sql)
    if "at" in values:
        statement = statement.bindparams(bindparam("at", type_=UTCDateTime()))
    await session.execute(statement, values)
    await session.flush()


async def test_each_record_links_to_the_one_before(database: Database) -> None:
    async with database.sessionmaker() as session:
        start_seq, start_hash = await chain_head(session)
        first, second, third = await _append(session, 3)
        assert (first.seq, second.seq, third.seq) == (start_seq + 1, start_seq + 2, start_seq + 3)
        assert first.prev_hash == start_hash
        assert second.prev_hash == first.hash
        assert third.prev_hash == second.hash
        assert len({first.hash, second.hash, third.hash}) == 3
        assert await chain_head(session) == (third.seq, third.hash)


async def test_an_empty_log_starts_at_the_genesis_hash(database: Database) -> None:
    async with database.sessionmaker() as session:
        # Each test runs in a rolled-back transaction on a freshly migrated database.
        assert await chain_head(session) == (0, GENESIS_HASH)
        report = await verify_chain(session)
        assert report.ok
        assert report.checked == 0
        (first,) = await _append(session, 1)
        assert first.seq == 1
        assert first.prev_hash == GENESIS_HASH


async def test_without_an_actor_the_system_acted_and_request_id_is_kept(
    database: Database,
) -> None:
    async with database.sessionmaker() as session:
        with structlog.contextvars.bound_contextvars(request_id="0123456789abcdef"):
            by_system = await record_event(
                session, actor=None, action="retention.run", account_id=None
            )
        by_operator = await record_event(
            session, actor=OPERATOR, action="account.create", account_id=new_id()
        )
    assert (by_system.actor_id, by_system.actor_role) == (None, "system")
    assert by_system.request_id == "0123456789abcdef"
    assert by_system.details == "{}"
    assert (by_operator.actor_id, by_operator.actor_role) == (None, "operator")
    assert by_operator.request_id is None


@pytest.mark.asvs("V16.4.2")
async def test_intact_chain_verifies_in_small_batches(database: Database) -> None:
    seen: list[tuple[int, int]] = []
    async with database.sessionmaker() as session:
        records = await _append(session, 7)
        await session.commit()
    report = await verify_chain(
        database, batch=3, progress=lambda done, total: seen.append((done, total))
    )
    assert report.ok, report.detail
    assert report.checked == records[-1].seq
    assert (report.head_seq, report.head_hash) == (records[-1].seq, records[-1].hash)
    assert report.problem is None
    assert report.first_bad_seq is None
    assert seen[-1] == (records[-1].seq, records[-1].seq)


TAMPERED_VALUES: dict[str, Any] = {
    "id": new_id(),
    "at": datetime(2020, 1, 1, tzinfo=UTC),
    "actor_id": new_id(),
    "actor_role": "privacy_officer",
    "account_id": new_id(),
    "action": "user.view",
    "target_type": "ticket",
    "target_id": new_id(),
    "purpose": "marketing",
    "request_id": "feedfacefeedface",
    "details": '{"attempt":1}',
    "prev_hash": "f" * 64,
    "hash": "e" * 64,
}


@pytest.mark.asvs("V16.4.2")
@pytest.mark.parametrize("column", sorted(TAMPERED_VALUES))
async def test_changing_any_field_of_a_record_is_found(database: Database, column: str) -> None:
    async with database.sessionmaker() as session:
        _, middle, _ = await _append(session, 3)
        await _tamper(
            session,
            f"UPDATE audit_record SET {column} = :{column} WHERE seq = :seq",  # noqa: S608
            seq=middle.seq,
            **{column: TAMPERED_VALUES[column]},
        )
        report = await verify_chain(session)
    assert not report.ok
    assert report.problem == "changed"
    assert report.first_bad_seq == middle.seq
    assert report.checked == middle.seq - 1
    assert report.detail is not None
    assert f"seq {middle.seq}" in report.detail
    assert str(TAMPERED_VALUES["id"] if column == "id" else middle.id) in report.detail


@pytest.mark.asvs("V16.4.2")
async def test_removing_a_middle_record_is_found(database: Database) -> None:
    async with database.sessionmaker() as session:
        _, middle, last = await _append(session, 3)
        await _tamper(session, "DELETE FROM audit_record WHERE seq = :seq", seq=middle.seq)
        report = await verify_chain(session)
    assert not report.ok
    assert report.problem == "removed"
    assert report.first_bad_seq == middle.seq
    assert report.detail is not None
    assert f"record seq {middle.seq} was removed" in report.detail
    assert last.id in report.detail


@pytest.mark.asvs("V16.4.2")
async def test_removing_a_middle_record_and_renumbering_the_rest_is_found(
    database: Database,
) -> None:
    async with database.sessionmaker() as session:
        _, middle, last = await _append(session, 3)
        await _tamper(session, "DELETE FROM audit_record WHERE seq = :seq", seq=middle.seq)
        await _tamper(
            session,
            "UPDATE audit_record SET seq = :new WHERE seq = :old",
            new=middle.seq,
            old=last.seq,
        )
        await _tamper(
            session,
            "UPDATE audit_chain_head SET seq = :seq, hash = :hash",
            seq=middle.seq,
            hash=last.hash,
        )
        report = await verify_chain(session)
    assert not report.ok
    assert report.first_bad_seq == middle.seq


@pytest.mark.asvs("V16.4.2")
async def test_removing_the_last_record_leaves_the_head_mismatched(database: Database) -> None:
    async with database.sessionmaker() as session:
        _, before_last, last = await _append(session, 3)
        await _tamper(session, "DELETE FROM audit_record WHERE seq = :seq", seq=last.seq)
        report = await verify_chain(session)
    assert not report.ok
    assert report.problem == "head_mismatch"
    assert report.first_bad_seq == last.seq
    assert report.checked == before_last.seq
    assert report.detail is not None
    assert f"seq {last.seq}" in report.detail
    assert before_last.id in report.detail


@pytest.mark.asvs("V16.4.2")
async def test_a_record_added_beside_the_chain_is_found(database: Database) -> None:
    async with database.sessionmaker() as session:
        (last,) = await _append(session, 1)
        await _tamper(
            session,
            "INSERT INTO audit_record (seq, id, at, action, details, prev_hash, hash) "
            "VALUES (:seq, :id, :at, 'user.view', '{}', :prev, :prev)",
            seq=last.seq + 1,
            id=new_id(),
            at=datetime.now(UTC),
            prev=last.hash,
        )
        report = await verify_chain(session)
    assert not report.ok
    assert report.problem == "head_mismatch"
    assert report.first_bad_seq == last.seq + 1


@pytest.mark.asvs("V16.4.2")
async def test_swapping_two_records_is_found_as_reordered(database: Database) -> None:
    async with database.sessionmaker() as session:
        _, second, third, _ = await _append(session, 4)
        swap = "UPDATE audit_record SET seq = :new WHERE seq = :old"
        await _tamper(session, swap, new=-1, old=second.seq)
        await _tamper(session, swap, new=second.seq, old=third.seq)
        await _tamper(session, swap, new=third.seq, old=-1)
        report = await verify_chain(session)
    assert not report.ok
    assert report.problem == "reordered"
    assert report.first_bad_seq == second.seq
    assert report.detail is not None
    assert f"record seq {second.seq} (id {third.id})" in report.detail


@pytest.mark.parametrize(
    "details",
    [
        {"reason": "x" * 201},
        {"k" * 201: "x"},
        {"name with spaces": "x"},
        {"note": "line one\nline two"},
        {"amount": 1.5},
        {"nested": {"a": "b"}},
        {"many": ["a", "b"]},
        {"blob": b"bytes"},
        {"big": 2**60},
        {f"key{n}": n for n in range(33)},
        {1: "not a name"},
    ],
    ids=repr,
)
async def test_details_refuse_anything_but_short_ids_codes_and_flags(
    database: Database, details: Any
) -> None:
    async with database.sessionmaker() as session:
        before = await chain_head(session)
        with pytest.raises(ValueError, match="audit detail"):
            await record_event(
                session, actor=ADMIN, action="user.view", account_id=None, details=details
            )
        assert await chain_head(session) == before


async def test_details_are_stored_as_canonical_json(database: Database) -> None:
    async with database.sessionmaker() as session:
        record = await record_event(
            session,
            actor=ADMIN,
            action="user.view",
            account_id=None,
            details={"z": "last", "a": 1, "flag": False, "none": None, "code": "x" * 200},
        )
    assert record.details == (
        '{"a":1,"code":"' + "x" * 200 + '","flag":false,"none":null,"z":"last"}'
    )


async def test_a_naive_time_or_an_overlong_action_is_refused(database: Database) -> None:
    async with database.sessionmaker() as session:
        with pytest.raises(ValueError, match="timezone"):
            await record_event(
                session, actor=None, action="x", account_id=None, at=datetime(2025, 1, 1)
            )
        with pytest.raises(ValueError, match="action"):
            await record_event(session, actor=None, action="a" * 65, account_id=None)


@pytest.mark.asvs("V16.4.3")
async def test_export_writes_one_json_line_per_record_with_every_column(
    database: Database,
) -> None:
    async with database.sessionmaker() as session:
        start_seq, _ = await chain_head(session)
        records = await _append(session, 5)
        out = io.StringIO()
        seen: list[tuple[int, int]] = []
        count = await export_records(
            session, out, since_seq=start_seq, batch=2, progress=lambda d, t: seen.append((d, t))
        )
        later = io.StringIO()
        assert await export_records(session, later, since_seq=records[2].seq) == 2
    assert count == 5
    assert seen[-1] == (5, 5)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["seq"] for line in lines] == [record.seq for record in records]
    assert set(lines[0]) == {column.name for column in AuditRecord.__table__.columns}
    assert lines[0]["id"] == records[0].id
    assert lines[0]["hash"] == records[0].hash
    assert lines[1]["prev_hash"] == records[0].hash
    assert datetime.fromisoformat(lines[0]["at"]) == records[0].at
    assert json.loads(lines[0]["details"])["attempt"] == 0
    assert [json.loads(line)["seq"] for line in later.getvalue().splitlines()] == [
        records[3].seq,
        records[4].seq,
    ]


@pytest.mark.asvs("V16.4.3")
async def test_the_chain_head_is_logged_for_keeping_elsewhere(database: Database) -> None:
    async with database.sessionmaker() as session:
        (record,) = await _append(session, 1)
        with capture_logs() as logs:
            log_chain_head(*await chain_head(session))
    assert logs == [
        {
            "event": "audit_chain_head",
            "logger_name": "amanat.audit",
            "log_level": "info",
            "seq": record.seq,
            "hash": record.hash,
        }
    ]


async def test_listing_is_scoped_to_the_account_and_pages_newest_first(
    database: Database,
) -> None:
    account, other = new_id(), new_id()
    async with database.sessionmaker() as session:
        ours = await _append(session, 3, account_id=account)
        await _append(session, 2, account_id=other)
        target = ours[1].target_id
        first_page = await list_records(session, account_id=account, limit=2)
        second_page = await list_records(
            session, account_id=account, limit=2, before_seq=first_page[-1].seq
        )
        by_target = await list_records(session, account_id=account, target_id=target)
        elsewhere = await list_records(session, account_id=other, target_id=target)
        with pytest.raises(ValueError, match="limit"):
            await list_records(session, account_id=account, limit=0)
    assert [r.seq for r in first_page] == [ours[2].seq, ours[1].seq]
    assert [r.seq for r in second_page] == [ours[0].seq]
    assert [r.seq for r in by_target] == [ours[1].seq]
    assert elsewhere == []


@pytest.mark.asvs("V16.4.2")
async def test_a_second_appender_waits_for_the_first_on_postgres(
    migrated_engines: dict[str, AsyncEngine],
) -> None:
    if "postgres" not in migrated_engines:
        pytest.skip("PostgreSQL is not among the test backends")
    engine = migrated_engines["postgres"]
    # Two real transactions that both roll back, so the shared database keeps no trace.
    async with engine.connect() as first_conn, engine.connect() as second_conn:
        first_tx = await first_conn.begin()
        second_tx = await second_conn.begin()
        first = sessionmaker_for(first_conn, join_transaction_mode="create_savepoint")()
        second = sessionmaker_for(second_conn, join_transaction_mode="create_savepoint")()
        try:
            written = await record_event(first, actor=None, action="a.first", account_id=None)
            waiting = asyncio.create_task(
                record_event(second, actor=None, action="a.second", account_id=None)
            )
            await asyncio.sleep(0.3)
            assert not waiting.done(), "the second appender did not wait for the head lock"
            await first_tx.rollback()
            after = await asyncio.wait_for(waiting, timeout=10)
            assert (after.seq, after.prev_hash) == (written.seq, written.prev_hash)
        finally:
            await first.close()
            await second.close()
            if second_tx.is_active:
                await second_tx.rollback()
