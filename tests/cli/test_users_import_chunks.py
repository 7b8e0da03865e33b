"""`amanat users import` commits every 500 rows (an interrupted import keeps them), or nothing
at all with `--atomic`; it prints a progress line per chunk when its output is not a terminal;
and a value another customer account holds gets the answer of a free one."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func, select

from amanat.access.actors import OPERATOR
from amanat.core.db import create_database, unit_of_work
from amanat.identity.accounts import create_customer_account
from amanat.identity.models import User
from tests.cli.test_users_import import _amanat, _database_url
from tests.support.processes import AMANAT, amanat_env

pytestmark = pytest.mark.policy("§4 access controls: admin create users")

HEADER = "username,full_name,email,cnic\n"


def _rows(count: int, prefix: str = "user") -> str:
    return HEADER + "".join(
        f"{prefix}-{number},Person Number,{prefix}-{number}@example.com,\n"
        for number in range(count)
    )


async def _accounts(tmp_path: Path, count: int = 1) -> list[str]:
    upgraded = await _amanat(["db", "upgrade"], tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    database = create_database(_database_url(tmp_path))
    try:
        async with unit_of_work(database) as session:
            return [
                (await create_customer_account(session, OPERATOR, name="Acme Cloud Traders")).id
                for _ in range(count)
            ]
    finally:
        await database.dispose()


async def _user_count(tmp_path: Path) -> int:
    database = create_database(_database_url(tmp_path))
    try:
        async with database.sessionmaker() as session:
            return int(await session.scalar(select(func.count()).select_from(User)) or 0)
    finally:
        await database.dispose()


async def test_progress_lines_per_chunk_when_not_a_terminal(tmp_path: Path) -> None:
    [account] = await _accounts(tmp_path)
    source = tmp_path / "users.csv"
    source.write_text(_rows(1200), encoding="utf-8")
    result = await _amanat(["users", "import", str(source), "--account", account], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "created 1200, rejected 0"
    lines = [line for line in result.stderr.splitlines() if line.startswith("imported")]
    assert lines == [
        "imported 500 of 1,200 rows",
        "imported 1,000 of 1,200 rows",
        "imported 1,200 of 1,200 rows",
    ]
    assert await _user_count(tmp_path) == 1200


def _import_until_first_chunk(tmp_path: Path, args: list[str], first_line: str) -> None:
    """Run the import and kill it (SIGKILL) as soon as it reports its first chunk."""
    with subprocess.Popen(
        [AMANAT, *args],
        cwd=tmp_path,
        env=amanat_env(tmp_path / "data"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stderr is not None
        for line in process.stderr:
            if line.startswith(first_line):
                os.kill(process.pid, signal.SIGKILL)
                break
        process.wait(timeout=120)


@pytest.mark.parametrize("atomic", [False, True])
async def test_an_interrupted_import_keeps_whole_chunks_or_with_atomic_nothing(
    tmp_path: Path, atomic: bool
) -> None:
    [account] = await _accounts(tmp_path)
    source = tmp_path / "users.csv"
    total = 4000
    source.write_text(_rows(total), encoding="utf-8")
    args = ["users", "import", str(source), "--account", account]
    first = "checked 500 of" if atomic else "imported 500 of"
    await asyncio.to_thread(
        _import_until_first_chunk, tmp_path, [*args, "--atomic"] if atomic else args, first
    )
    kept = await _user_count(tmp_path)
    if atomic:
        assert kept == 0
    else:
        # Each chunk of 500 was committed as it was done; the one under way when killed, not.
        assert kept % 500 == 0
        assert 500 <= kept < total


@pytest.mark.asvs("V8.2.2")
async def test_a_value_another_account_holds_is_imported_as_a_free_one(tmp_path: Path) -> None:
    first, second = await _accounts(tmp_path, 2)
    source = tmp_path / "users.csv"
    source.write_text(
        HEADER + "shared-name,Hina Khan,shared@example.com,35202-7654321-3\n", encoding="utf-8"
    )
    report = tmp_path / "rejected.csv"
    answers = []
    for account in (first, second):
        result = await _amanat(
            ["users", "import", str(source), "--account", account, "--report", str(report)],
            tmp_path,
        )
        answers.append((result.returncode, result.stdout, report.read_text(encoding="utf-8")))
    assert answers[0] == answers[1]
    assert answers[0][0] == 0
    # In the same account, the very same row is refused openly.
    again = await _amanat(["users", "import", str(source), "--account", first], tmp_path)
    assert again.returncode == 1
    assert "username_taken" in again.stdout
