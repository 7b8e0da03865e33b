"""How long an exact look-up of one person takes among 1,000,000: by email or by CNIC, through
the blind indexes, the person's key unwrapped and their fields decrypted, on SQLite and on
PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

from bench.figures._people import Dataset, cached_dataset, percentile, settings_for
from bench.registry import register
from bench.results import Disturbed, Measurement, busy_cores, wait_for_quiet

PEOPLE = int(os.environ.get("AMANAT_BENCH_LOOKUP_PEOPLE", "1000000"))
WARMUP_LOOKUPS = 200
MAX_BUSY = 0.3
COPY_BATCH = 20_000
# Room for the whole data set (about 1.9 GB with the key store) in PostgreSQL's own cache: a
# quarter of this machine's memory or less, the usual share for a dedicated server.
POSTGRES_SETTINGS = {"shared_buffers": "2GB"}
PREWARM = (
    "SELECT pg_prewarm(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i')"
)


async def _lookup_times(runtime: Any, dataset: Dataset) -> dict[str, list[float]]:
    """Milliseconds of each look-up, by kind: one session each, as one request would have."""
    from amanat.people.search import find_people

    times: dict[str, list[float]] = {"email": [], "cnic": []}
    probes = dataset.probes
    warmup = probes[:WARMUP_LOOKUPS]
    for number, probe in enumerate((*warmup, *probes)):
        for kind, value in (("email", probe.email), ("cnic", probe.cnic)):
            started = time.perf_counter()
            async with runtime.database.sessionmaker() as session:
                found = await find_people(
                    session, runtime.keyring, account_id=dataset.account_id, **{kind: value}
                )
            elapsed = (time.perf_counter() - started) * 1000
            if len(found) != 1:
                raise RuntimeError(f"a {kind} look-up found {len(found)} people, not 1")
            if found[0].email != probe.email:
                raise RuntimeError("the look-up found someone else")
            if number >= len(warmup):
                times[kind].append(elapsed)
    return times


def _measure(runtime_factory: Any, dataset: Dataset) -> tuple[dict[str, list[float]], float]:
    async def run() -> tuple[dict[str, list[float]], float]:
        runtime = await runtime_factory()
        try:
            wait_for_quiet(MAX_BUSY)
            before = busy_cores(0.2)
            times = await _lookup_times(runtime, dataset)
            return times, before
        finally:
            await runtime.database.dispose()

    return asyncio.run(run())


def _figure(
    name: str, backend: str, times: dict[str, list[float]], extra: dict[str, Any]
) -> Measurement:
    every = times["email"] + times["cnic"]
    if not every:
        raise Disturbed("no look-ups were timed")
    details = {
        "backend": backend,
        "people": PEOPLE,
        "lookups": len(every),
        "p50_ms": round(median(every), 3),
        "email_p99_ms": round(percentile(times["email"], 0.99), 3),
        "cnic_p99_ms": round(percentile(times["cnic"], 0.99), 3),
        "max_ms": round(max(every), 3),
        **extra,
    }
    return Measurement(
        name=name, value=round(percentile(every, 0.99), 3), unit="ms", details=details
    )


@register(goal="≤ 5 ms")
def lookup_p99_ms_sqlite() -> list[Measurement]:
    """99th percentile of one exact look-up among 1,000,000 people in the embedded SQLite
    database: `find_people` by email or by CNIC (typed `35202-…-…`, normalized, HMAC'd under
    every master key version, matched on the unique blind index), which also reads the match's
    data key from the key store, unwraps it and decrypts every field; each look-up in a session
    of its own, as a request would be. 2,000 people chosen at random are looked up by
    both keys after 200 warm-up look-ups, one after another in one process; the data set is
    built once through `create_people` and cached in `bench/.cache/`."""
    from amanat.core.runtime import open_runtime

    dataset = cached_dataset(PEOPLE)
    # A copy, so the cached set stays as built whatever a run does to its files.
    scratch = Path(tempfile.mkdtemp(prefix="amanat-bench-lookup-"))
    try:
        shutil.copytree(dataset.data_dir, scratch / "data")
        copy = Dataset(scratch / "data", dataset.account_id, dataset.count, dataset.probes)
        times, busy = _measure(lambda: open_runtime(settings_for(copy.data_dir)), copy)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return [_figure("lookup_p99_ms_sqlite", "sqlite", times, {"busy_cores_before": round(busy, 2)})]


async def _copy_into_postgres(
    dataset: Dataset, url: str, keystore_url: str, data_dir: Path
) -> None:
    """The cached people, copied row for row into freshly migrated PostgreSQL databases."""
    from sqlalchemy import select

    from amanat.core.migrations import upgrade_database, upgrade_keystore
    from amanat.core.runtime import open_database, open_runtime
    from amanat.identity.models import CustomerAccount
    from amanat.people.models import Person, PersonKey, PersonNameWord

    settings = settings_for(data_dir, database_url=url, keystore_url=keystore_url)
    # As an operator would: `amanat db upgrade` first (serve refuses a PostgreSQL schema behind).
    fresh = open_database(settings)
    try:
        await upgrade_database(fresh.engine)
        assert fresh.keystore_engine is not None
        await upgrade_keystore(fresh.keystore_engine)
    finally:
        await fresh.dispose()
    source = await open_runtime(settings_for(dataset.data_dir))
    target = await open_runtime(settings)
    try:
        for model in (CustomerAccount, Person, PersonNameWord, PersonKey):
            table = model.__table__
            columns = [column.name for column in table.columns]
            engine = (
                source.database.keystore_engine if model is PersonKey else source.database.engine
            )
            into = target.database.keystore_engine if model is PersonKey else target.database.engine
            assert engine is not None
            assert into is not None
            async with engine.connect() as reading, into.connect() as writing:
                raw = await writing.get_raw_connection()
                driver = raw.driver_connection
                assert driver is not None
                result = await reading.stream(select(table))
                async for chunk in result.partitions(COPY_BATCH):
                    await driver.copy_records_to_table(
                        table.name, records=[tuple(row) for row in chunk], columns=columns
                    )
                await writing.commit()
        # As after any bulk load: VACUUM sets the rows' hint bits and visibility map and
        # ANALYZE the planner's statistics, so neither autovacuum nor the first readers of
        # each page do that work during the measurement. Then the tables and indexes are read
        # into shared buffers (pg_prewarm), as a server in service holds them: a bulk load
        # leaves them out (COPY and VACUUM go through a small ring of buffers).
        for engine in (target.database.engine, target.database.keystore_engine):
            assert engine is not None
            async with engine.connect() as connection:
                autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
                await autocommit.exec_driver_sql("VACUUM (FREEZE, ANALYZE)")
                await autocommit.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
                await autocommit.exec_driver_sql(PREWARM)
    finally:
        await source.database.dispose()
        await target.database.dispose()


@register(goal="≤ 5 ms")
def lookup_p99_ms_postgres() -> list[Measurement]:
    """The same look-ups as `lookup_p99_ms_sqlite`, on PostgreSQL (Debian's server, started
    for the run on loopback with shared_buffers 2GB, asyncpg): the cached 1,000,000 people are
    copied into freshly migrated data and key-store databases (COPY, then VACUUM (FREEZE,
    ANALYZE) as after any bulk load, then pg_prewarm of their tables and indexes, so the data
    is in PostgreSQL's cache as SQLite's file is in the OS page cache for the SQLite figure),
    then 2,000 random people are looked up by email and by CNIC after 200 warm-up look-ups, one
    session each."""
    from tests.support.postgres import start_postgres

    from amanat.core.runtime import open_runtime

    dataset = cached_dataset(PEOPLE)
    server = start_postgres(settings=POSTGRES_SETTINGS)
    scratch = Path(tempfile.mkdtemp(prefix="amanat-bench-lookup-pg-"))
    try:
        admin_url = server.url_for("postgres")

        async def create_databases() -> None:
            from sqlalchemy.ext.asyncio import create_async_engine

            admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
            async with admin.connect() as connection:
                for name in ("amanat", "amanat_keys"):
                    await connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
            await admin.dispose()

        asyncio.run(create_databases())
        url, keystore_url = server.url_for("amanat"), server.url_for("amanat_keys")
        data_dir = scratch / "data"
        data_dir.mkdir(mode=0o700)
        shutil.copy2(dataset.data_dir / "master.key", data_dir / "master.key")
        started = time.perf_counter()
        asyncio.run(_copy_into_postgres(dataset, url, keystore_url, data_dir))
        copy_seconds = time.perf_counter() - started
        settings = settings_for(data_dir, database_url=url, keystore_url=keystore_url)
        times, busy = _measure(lambda: open_runtime(settings), dataset)
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    return [
        _figure(
            "lookup_p99_ms_postgres",
            "postgres",
            times,
            {
                "busy_cores_before": round(busy, 2),
                "copy_s": round(copy_seconds, 1),
                "server_settings": POSTGRES_SETTINGS,
                "prewarmed": True,
            },
        )
    ]
