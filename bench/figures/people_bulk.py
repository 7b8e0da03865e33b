"""What bulk work on personal data costs: importing people, verifying the audit chain, rotating
the master key."""

from __future__ import annotations

import asyncio
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.figures._people import (
    cached_dataset,
    create_synthetic_people,
    new_customer_account,
    settings_for,
    synthetic_entry,
)
from bench.registry import register
from bench.results import Measurement, wait_for_quiet

IMPORT_PEOPLE = int(os.environ.get("AMANAT_BENCH_IMPORT_PEOPLE", "100000"))
USERS_IMPORT_ROWS = 2_000
AUDIT_RECORDS = 20_000
AUDIT_BATCH = 1_000
ROTATE_PEOPLE = int(os.environ.get("AMANAT_BENCH_ROTATE_PEOPLE", "50000"))
MAX_BUSY = 0.3


def _amanat(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    """Run the `amanat` command line of this environment on `data_dir`, as an operator would."""
    command = Path(sys.executable).with_name("amanat")
    env = {
        **os.environ,
        "AMANAT_DATA_DIR": str(data_dir),
        "AMANAT_ENVIRONMENT": "production",
        "AMANAT_LOG_LEVEL": "warning",
    }
    env.pop("AMANAT_MASTER_KEY", None)
    env.pop("AMANAT_DATABASE_URL", None)
    done = subprocess.run(
        [str(command), *args], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"amanat {args[0]} exited {done.returncode}: {done.stderr[-400:]}")
    return done


async def _import_people(data_dir: Path) -> float:
    from amanat.core.runtime import open_runtime

    runtime = await open_runtime(settings_for(data_dir))
    try:
        account_id = await new_customer_account(runtime, "Bench Import")
        wait_for_quiet(MAX_BUSY)
        started = time.perf_counter()
        await create_synthetic_people(runtime, account_id, range(IMPORT_PEOPLE))
        return time.perf_counter() - started
    finally:
        await runtime.database.dispose()


async def _account_for_users(data_dir: Path) -> str:
    from amanat.core.runtime import open_runtime

    runtime = await open_runtime(settings_for(data_dir))
    try:
        return await new_customer_account(runtime, "Bench Users Import")
    finally:
        await runtime.database.dispose()


def _users_import_seconds(scratch: Path) -> float:
    """`amanat users import` of a CSV of invited users (each also a person), wall time."""
    data_dir = scratch / "users-data"
    account_id = asyncio.run(_account_for_users(data_dir))
    sheet = scratch / "users.csv"
    with sheet.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["username", "full_name", "email", "role"])
        for number in range(USERS_IMPORT_ROWS):
            entry = synthetic_entry(number)
            writer.writerow([f"bench-user-{number}", entry.full_name, entry.email, "member"])
    wait_for_quiet(MAX_BUSY)
    started = time.perf_counter()
    _amanat("users", "import", str(sheet), "--account", account_id, data_dir=data_dir)
    return time.perf_counter() - started


@register(goal="≤ 60 s")
def import_100k_s() -> list[Measurement]:
    """Seconds to store 100,000 new people in a fresh embedded data directory through
    `create_people`, the people service's bulk creation (which `create_person` also uses):
    every field validated (name, email, Pakistani mobile, CNIC, address), a data key made and
    wrapped per person, five values encrypted (AES-256-GCM, bound to table, column and row),
    email, phone, CNIC and name-word blind indexes computed, uniqueness of email and CNIC
    checked against the database, in transactions of 5,000 people. For comparison the details
    give the rate of `amanat users import` (one invitation, one-time token, queued mail and
    audit record per row besides the person) on a CSV of 2,000 users, run as a command."""
    scratch = Path(tempfile.mkdtemp(prefix="amanat-bench-import-"))
    try:
        seconds = asyncio.run(_import_people(scratch / "data"))
        users_seconds = _users_import_seconds(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    details: dict[str, Any] = {
        "people": IMPORT_PEOPLE,
        "people_per_s": round(IMPORT_PEOPLE / seconds, 1),
        "users_import_rows": USERS_IMPORT_ROWS,
        "users_import_rows_per_s": round(USERS_IMPORT_ROWS / users_seconds, 1),
    }
    return [Measurement(name="import_100k_s", value=round(seconds, 2), unit="s", details=details)]


async def _audit_verify_rate(data_dir: Path) -> tuple[float, int]:
    from amanat.audit.actors import AuditActor
    from amanat.audit.chain import verify_chain
    from amanat.audit.records import record_event
    from amanat.core.db import unit_of_work
    from amanat.core.ids import new_id
    from amanat.core.runtime import open_runtime

    runtime = await open_runtime(settings_for(data_dir))
    try:
        account_id = await new_customer_account(runtime, "Bench Audit")
        actor = AuditActor(user_id=new_id(), role="admin")
        for first in range(0, AUDIT_RECORDS, AUDIT_BATCH):
            async with unit_of_work(runtime.database) as session:
                for number in range(first, first + AUDIT_BATCH):
                    await record_event(
                        session,
                        actor=actor,
                        action="user.suspend" if number % 2 else "user.reactivate",
                        account_id=account_id,
                        target_type="user",
                        target_id=new_id(),
                        details={"reason_code": "bench"},
                    )
        wait_for_quiet(MAX_BUSY)
        started = time.perf_counter()
        report = await verify_chain(runtime.database)
        seconds = time.perf_counter() - started
        if not report.ok:
            raise RuntimeError("the freshly written audit chain did not verify")
        return seconds, report.checked
    finally:
        await runtime.database.dispose()


@register()
def audit_verify_per_s() -> list[Measurement]:
    """Audit records verified per second by `verify_chain` (what `amanat audit verify` runs):
    each record's SHA-256 recomputed over its canonical fields and compared with the next
    record's link, in seq order, 1,000 records per query, over a chain of 20,000 records
    written through `record_event` in an embedded SQLite data directory."""
    scratch = Path(tempfile.mkdtemp(prefix="amanat-bench-audit-"))
    try:
        seconds, checked = asyncio.run(_audit_verify_rate(scratch / "data"))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return [
        Measurement(
            name="audit_verify_per_s",
            value=round(checked / seconds, 1),
            unit="records/s",
            details={"records": checked, "seconds": round(seconds, 3)},
        )
    ]


@register()
def keys_rotate_per_s() -> list[Measurement]:
    """People per second through a whole `amanat keys rotate`, run as a command on a copy of
    an embedded data directory of 50,000 people: a master key version added, every data key
    unwrapped and wrapped again under it, every blind index recomputed under the new index key,
    the old version retired; batches of 500, each its own transaction. The figure is people
    divided by the command's wall time (process start included)."""
    dataset = cached_dataset(ROTATE_PEOPLE)
    scratch = Path(tempfile.mkdtemp(prefix="amanat-bench-rotate-"))
    try:
        data_dir = scratch / "data"
        shutil.copytree(dataset.data_dir, data_dir)
        wait_for_quiet(MAX_BUSY)
        started = time.perf_counter()
        done = _amanat("keys", "rotate", data_dir=data_dir)
        seconds = time.perf_counter() - started
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if "is the only one in use" not in done.stdout:
        raise RuntimeError("the rotation did not finish: " + done.stdout[-400:])
    return [
        Measurement(
            name="keys_rotate_per_s",
            value=round(ROTATE_PEOPLE / seconds, 1),
            unit="people/s",
            details={"people": ROTATE_PEOPLE, "seconds": round(seconds, 2)},
        )
    ]
