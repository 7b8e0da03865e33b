"""`amanat audit verify` and `amanat audit export`, run as an operator would, on the embedded
SQLite database."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from amanat.audit.service import OPERATOR, record_event
from amanat.core.db import create_database, unit_of_work
from amanat.core.ids import new_id
from tests.support.processes import amanat_env, run_amanat

pytestmark = pytest.mark.asvs("V16.4.2", "V16.4.3")

RECORDS = 4


async def _amanat(args: list[str], tmp_path: Path) -> CompletedProcess[str]:
    env = amanat_env(tmp_path / "data")
    return await asyncio.to_thread(run_amanat, args, cwd=tmp_path, env=env)


async def _data_dir_with_records(tmp_path: Path) -> Path:
    upgraded = await _amanat(["db", "upgrade"], tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    data_dir = tmp_path / "data"
    database = create_database(f"sqlite+aiosqlite:///{data_dir}/amanat.db")
    try:
        async with unit_of_work(database) as session:
            for number in range(RECORDS):
                await record_event(
                    session,
                    actor=OPERATOR,
                    action="account.create",
                    account_id=new_id(),
                    details={"number": number},
                )
    finally:
        await database.dispose()
    return data_dir


async def test_verify_passes_then_names_the_tampered_record(tmp_path: Path) -> None:
    data_dir = await _data_dir_with_records(tmp_path)
    intact = await _amanat(["audit", "verify"], tmp_path)
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert intact.stdout.startswith(f"audit chain intact: {RECORDS} records, head ")
    assert "Traceback" not in intact.stderr

    with sqlite3.connect(data_dir / "amanat.db") as raw:
        raw.execute("UPDATE audit_record SET action = 'user.view' WHERE seq = 3")
    raw.close()
    broken = await _amanat(["audit", "verify"], tmp_path)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    lines = broken.stdout.splitlines()
    assert len(lines) == 1
    assert "record seq 3 " in lines[0]
    assert "changed" in lines[0]


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
