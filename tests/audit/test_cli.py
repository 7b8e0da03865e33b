"""`amanat audit verify` and `amanat audit export`, run as an operator would, on the embedded
SQLite database: a record edited, deleted or moved makes `verify` exit 1 naming it."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from amanat.audit.actors import OPERATOR
from amanat.audit.records import record_event
from amanat.core.db import unit_of_work
from amanat.core.ids import new_id
from amanat.core.runtime import open_runtime
from amanat.core.settings import Settings
from tests.support.processes import amanat_env, run_amanat

pytestmark = pytest.mark.asvs("V16.4.2", "V16.4.3")

RECORDS = 4


async def _amanat(args: list[str], tmp_path: Path) -> CompletedProcess[str]:
    env = amanat_env(tmp_path / "data")
    return await asyncio.to_thread(run_amanat, args, cwd=tmp_path, env=env)


async def _data_dir_with_records(tmp_path: Path) -> tuple[Path, list[str]]:
    """An embedded data directory, started as `amanat serve` starts one, holding RECORDS
    records; their ids, oldest first."""
    data_dir = tmp_path / "data"
    runtime = await open_runtime(Settings(data_dir=data_dir))
    try:
        async with unit_of_work(runtime.database) as session:
            ids = [
                (
                    await record_event(
                        session,
                        actor=OPERATOR,
                        action="account.create",
                        account_id=new_id(),
                        details={"number": number},
                    )
                ).id
                for number in range(RECORDS)
            ]
    finally:
        await runtime.database.dispose()
    return data_dir, ids


def _tamper(data_dir: Path, *statements: str) -> None:
    """Raw SQL on the database file: the tampering `amanat audit verify` must reveal."""
    with sqlite3.connect(data_dir / "amanat.db") as raw:
        for statement in statements:
            raw.execute(statement)
    raw.close()


def _one_broken_line(result: CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    assert lines[0].startswith("audit chain broken: ")
    return lines[0]


async def test_verify_passes_then_names_the_tampered_record(tmp_path: Path) -> None:
    data_dir, ids = await _data_dir_with_records(tmp_path)
    intact = await _amanat(["audit", "verify"], tmp_path)
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert intact.stdout.startswith(f"audit chain intact: {RECORDS} records, head ")
    assert "Traceback" not in intact.stderr

    _tamper(data_dir, "UPDATE audit_record SET action = 'user.view' WHERE seq = 3")
    line = _one_broken_line(await _amanat(["audit", "verify"], tmp_path))
    assert f"record seq 3 (id {ids[2]}) " in line
    assert "changed" in line


async def test_verify_names_a_deleted_record(tmp_path: Path) -> None:
    data_dir, ids = await _data_dir_with_records(tmp_path)
    _tamper(data_dir, "DELETE FROM audit_record WHERE seq = 2")

    line = _one_broken_line(await _amanat(["audit", "verify"], tmp_path))

    assert "record seq 2 was removed" in line
    assert f"from seq 1 to seq 3 (id {ids[2]})" in line


async def test_verify_names_the_first_of_two_swapped_records(tmp_path: Path) -> None:
    data_dir, ids = await _data_dir_with_records(tmp_path)
    _tamper(
        data_dir,
        "UPDATE audit_record SET seq = -1 WHERE seq = 2",
        "UPDATE audit_record SET seq = 2 WHERE seq = 3",
        "UPDATE audit_record SET seq = 3 WHERE seq = -1",
    )

    line = _one_broken_line(await _amanat(["audit", "verify"], tmp_path))

    # The third record now stands at seq 2: it is named, and so is the one it followed.
    assert f"record seq 2 (id {ids[2]}) is out of order" in line
    assert f"written after record id {ids[1]}, which is now at seq 3" in line


async def test_export_prints_one_json_line_per_record(tmp_path: Path) -> None:
    await _data_dir_with_records(tmp_path)
    everything = await _amanat(["audit", "export"], tmp_path)
    assert everything.returncode == 0, everything.stderr
    lines = [json.loads(line) for line in everything.stdout.splitlines()]
    assert [line["seq"] for line in lines] == list(range(1, RECORDS + 1))
    assert f"exported {RECORDS} records" in everything.stderr

    out = tmp_path / "audit.jsonl"
    since = await _amanat(["audit", "export", "--since", "2", "--output", str(out)], tmp_path)
    assert since.returncode == 0, since.stderr
    assert since.stdout == ""
    assert [json.loads(line)["seq"] for line in out.read_text().splitlines()] == [3, 4]
    assert out.stat().st_mode & 0o777 == 0o600
