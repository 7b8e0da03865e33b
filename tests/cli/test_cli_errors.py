"""Operator mistakes get one line on stderr and exit status 2, never a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.processes import amanat_env, run_amanat


def _assert_one_line_error(result: object, *fragments: str) -> None:
    stderr = result.stderr  # type: ignore[attr-defined]
    assert result.returncode == 2, stderr  # type: ignore[attr-defined]
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("amanat: error: ")
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_invalid_setting_exits_2_naming_it(tmp_path: Path) -> None:
    env = amanat_env(tmp_path / "data", AMANAT_PORT="not-a-port")
    result = run_amanat(["db", "upgrade"], cwd=tmp_path, env=env)
    _assert_one_line_error(result, "AMANAT_PORT")


def test_unknown_option_exits_2_in_one_line(tmp_path: Path) -> None:
    result = run_amanat(["serve", "--prot", "1"], cwd=tmp_path, env=amanat_env(tmp_path / "d"))
    _assert_one_line_error(result, "--prot")


def test_malformed_config_file_exits_2(tmp_path: Path) -> None:
    (tmp_path / "amanat.toml").write_text("port = = 1\n")
    result = run_amanat(["db", "upgrade"], cwd=tmp_path, env=amanat_env(tmp_path / "d"))
    _assert_one_line_error(result, "configuration file")


@pytest.mark.asvs("V13.3.1")
def test_world_readable_key_file_stops_serve(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = amanat_env(data)
    assert run_amanat(["db", "upgrade"], cwd=tmp_path, env=env).returncode == 0
    data.joinpath("master.key").write_text('{"format": 1}')
    os.chmod(data / "master.key", 0o644)
    result = run_amanat(["serve", "--port", "1"], cwd=tmp_path, env=env)
    _assert_one_line_error(result, "chmod 600")


def test_malformed_master_key_in_environment_stops_serve(tmp_path: Path) -> None:
    env = amanat_env(tmp_path / "data", AMANAT_MASTER_KEY="1:not-base64!")
    result = run_amanat(["serve", "--port", "1"], cwd=tmp_path, env=env)
    _assert_one_line_error(result)
    assert "not-base64" not in result.stderr


def test_db_upgrade_then_status_agree(tmp_path: Path) -> None:
    env = amanat_env(tmp_path / "data")
    upgraded = run_amanat(["db", "upgrade"], cwd=tmp_path, env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "upgraded from nothing" in upgraded.stdout
    again = run_amanat(["db", "upgrade"], cwd=tmp_path, env=env)
    assert "already at" in again.stdout
    status = run_amanat(["db", "status"], cwd=tmp_path, env=env)
    assert status.returncode == 0


def test_check_reports_each_part_and_fails_on_a_problem(tmp_path: Path) -> None:
    env = amanat_env(tmp_path / "data")
    fresh = run_amanat(["check"], cwd=tmp_path, env=env)
    assert fresh.returncode == 0, fresh.stdout
    assert [line.split()[1] for line in fresh.stdout.splitlines()] == [
        "settings",
        "database",
        "tls",
    ]
    env_bad = amanat_env(
        tmp_path / "data",
        AMANAT_TLS_CERT=str(tmp_path / "nope.pem"),
        AMANAT_TLS_KEY=str(tmp_path / "nope.key"),
    )
    bad = run_amanat(["check"], cwd=tmp_path, env=env_bad)
    assert bad.returncode == 1
    assert "FAIL tls" in bad.stdout
