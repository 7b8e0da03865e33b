"""`amanat users import`, run as an operator would, on the embedded SQLite database."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path
from subprocess import CompletedProcess

import pytest
from sqlalchemy import select

from amanat.access.actors import OPERATOR
from amanat.core.db import create_database, unit_of_work
from amanat.core.settings import Settings
from amanat.identity.accounts import create_customer_account
from amanat.identity.models import User
from tests.support.processes import amanat_env, assert_one_line_error, run_amanat

pytestmark = pytest.mark.policy("§4 access controls: admin create users")

HEADER = "username,full_name,email,role\n"


async def _amanat(args: list[str], tmp_path: Path) -> CompletedProcess[str]:
    env = amanat_env(tmp_path / "data")
    return await asyncio.to_thread(run_amanat, args, cwd=tmp_path, env=env)


def _database_url(tmp_path: Path) -> str:
    return Settings(data_dir=tmp_path / "data").resolved_database_url


async def _customer_account(tmp_path: Path) -> str:
    upgraded = await _amanat(["db", "upgrade"], tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    database = create_database(_database_url(tmp_path))
    try:
        async with unit_of_work(database) as session:
            account = await create_customer_account(session, OPERATOR, name="Acme Cloud Traders")
            return account.id
    finally:
        await database.dispose()


async def _usernames(tmp_path: Path) -> set[str]:
    database = create_database(_database_url(tmp_path))
    try:
        async with database.sessionmaker() as session:
            return set(await session.scalars(select(User.username)))
    finally:
        await database.dispose()


@pytest.mark.asvs("V1.2.10", "V2.2.1")
async def test_import_creates_good_rows_and_writes_an_escaped_report(tmp_path: Path) -> None:
    account_id = await _customer_account(tmp_path)
    source = tmp_path / "users.csv"
    source.write_text(
        HEADER
        + "hina,Hina Khan,hina@example.com,\n"
        + "=SUM(1+1),Zain Malik,zain@example.com,\n"
        + "-2+3,Omar Farooq,omar@example.com,\n"
        + "tariq,Tariq Aziz,tariq@example.com,admin\n"
        + "sara,Sara Ali,HINA@example.com,\n",
        encoding="utf-8",
    )
    report = tmp_path / "rejected.csv"
    result = await _amanat(
        ["users", "import", str(source), "--account", account_id, "--report", str(report)],
        tmp_path,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "created 2, rejected 3" in result.stdout
    assert "Traceback" not in result.stderr
    assert await _usernames(tmp_path) == {"hina", "tariq"}

    with report.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["line", "code", "message"]
    assert [(row[0], row[1]) for row in rows[1:]] == [
        ("3", "invalid_username"),
        ("4", "invalid_username"),
        ("6", "duplicate_in_file"),
    ]
    assert rows[1][2].startswith("'=SUM(1+1): ")
    assert rows[2][2].startswith("'-2+3: ")
    assert rows[3][2] == "sara: This email address appears earlier in the file, on line 2."
    assert "example.com" not in report.read_text(encoding="utf-8")
    assert report.stat().st_mode & 0o777 == 0o600


@pytest.mark.asvs("V2.3.3")
async def test_atomic_import_with_a_bad_row_imports_nothing(tmp_path: Path) -> None:
    account_id = await _customer_account(tmp_path)
    source = tmp_path / "users.csv"
    source.write_bytes(
        (
            "\ufeff" + HEADER + "hina,Hina Khan,hina@example.com,\n"
            "zain,Zain Malik,not-an-address,\n"
        ).encode()
    )
    result = await _amanat(
        ["users", "import", str(source), "--account", account_id, "--atomic"], tmp_path
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "created 0, rejected 1 (--atomic: nothing was imported)" in result.stdout
    assert "invalid_email" in result.stdout  # the rejected rows, as a table
    assert "not-an-address" not in result.stdout
    assert await _usernames(tmp_path) == set()

    source.write_text(HEADER + "hina,Hina Khan,hina@example.com,\n", encoding="utf-8")
    done = await _amanat(
        ["users", "import", str(source), "--account", account_id, "--atomic"], tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "created 1, rejected 0"
    assert await _usernames(tmp_path) == {"hina"}


@pytest.mark.asvs("V1.1.1")
async def test_a_file_that_is_not_utf8_exits_2_in_one_line(tmp_path: Path) -> None:
    source = tmp_path / "users.csv"
    source.write_bytes((HEADER + "zoe,Zoë Café,zoe@example.com,\n").encode("latin-1"))
    result = await _amanat(["users", "import", str(source), "--account", "any"], tmp_path)
    assert_one_line_error(result, "UTF-8")
    assert "Zo" not in result.stderr


async def test_bad_header_missing_file_or_account_exit_2_in_one_line(tmp_path: Path) -> None:
    source = tmp_path / "users.csv"
    source.write_text("username,email,phone,nickname\n", encoding="utf-8")
    bad_header = await _amanat(["users", "import", str(source), "--account", "x"], tmp_path)
    assert_one_line_error(bad_header, "full_name", "'nickname'")
    missing = await _amanat(
        ["users", "import", str(tmp_path / "nope.csv"), "--account", "x"], tmp_path
    )
    assert_one_line_error(missing, "cannot read")

    await _customer_account(tmp_path)
    source.write_text(HEADER + "hina,Hina Khan,hina@example.com,\n", encoding="utf-8")
    no_account = await _amanat(["users", "import", str(source), "--account", "nope"], tmp_path)
    assert_one_line_error(no_account, "No such account")
    unwritable = await _amanat(
        ["users", "import", str(source), "--account", "nope", "--report", str(tmp_path / "a/b")],
        tmp_path,
    )
    assert_one_line_error(unwritable, "cannot write the report")


PERSON_HEADER = (
    "username,full_name,email,role,phone,cnic,"
    "address_line1,address_line2,city,province,postal_code,country\n"
)


@pytest.mark.asvs("V8.3.1")
async def test_import_with_phone_cnic_and_address_reports_columns_never_values(
    tmp_path: Path,
) -> None:
    account_id = await _customer_account(tmp_path)
    source = tmp_path / "users.csv"
    source.write_text(
        PERSON_HEADER
        + "hina,Hina Khan,hina@example.com,,0300 1234567,35202-1234567-1,"
        + '"House 12, Street 4",,Lahore,Punjab,54000,PK\n'
        + "zain,Zain Malik,zain@example.com,,0301 7654321,4210-1234567,,,,,,\n"
        + "omar,Omar Farooq,omar@example.com,,,35202-1234567-1,,,,,,\n"
        + "sara,Sara Ali,sara@example.com,,,,9 Jail Road,,Karachi,Sindh,7400,\n",
        encoding="utf-8",
    )
    report = tmp_path / "rejected.csv"
    result = await _amanat(
        ["users", "import", str(source), "--account", account_id, "--report", str(report)],
        tmp_path,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "created 1, rejected 3" in result.stdout
    assert await _usernames(tmp_path) == {"hina"}

    with report.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[1:] == [
        [
            "3",
            "invalid_cnic",
            "zain: cnic: CNIC must be 13 digits, written #####-#######-# or without dashes.",
        ],
        ["4", "duplicate_in_file", "omar: cnic: This CNIC appears earlier in the file, on line 2."],
        ["5", "invalid_postal_code", "sara: postal_code: A Pakistani postal code is 5 digits."],
    ]
    shown = result.stdout + result.stderr + report.read_text(encoding="utf-8")
    values = ["0300 1234567", "3001234567", "0301 7654321", "3017654321", "4210-1234567"]
    values += ["35202-1234567-1", "3520212345671", "House 12", "9 Jail Road", "7400", "Lahore"]
    for value in values:
        assert value not in shown, value

    # Hina's CNIC under a new user: refused as registered, in the table printed without --report.
    source.write_text(
        PERSON_HEADER + "nadia,Nadia Bibi,nadia@example.com,,,35202-1234567-1,,,,,,\n",
        encoding="utf-8",
    )
    again = await _amanat(["users", "import", str(source), "--account", account_id], tmp_path)
    assert again.returncode == 1, again.stdout + again.stderr
    assert "created 0, rejected 1" in again.stdout
    assert "cnic_taken" in again.stdout
    assert await _usernames(tmp_path) == {"hina"}
    for value in values:
        assert value not in again.stdout + again.stderr, value
