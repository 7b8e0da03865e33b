"""`amanat` starts at once: its help loads Typer, not the web app, the database or the crypto
stack; those load only when a command that needs them runs (timed in bench/, not here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from amanat.cli import main
from amanat.core.keyrotation import REWRAP_BATCH
from tests.support.processes import amanat_env, run_amanat

# Top-level packages that only a running command may import.
HEAVY = frozenset(
    {
        "aiosmtplib",
        "aiosqlite",
        "alembic",
        "anyio",
        "argon2",
        "asyncpg",
        "cryptography",
        "email_validator",
        "fastapi",
        "jinja2",
        "multipart",
        "phonenumbers",
        "prometheus_client",
        "pydantic",
        "pydantic_core",
        "pydantic_settings",
        "pyotp",
        "segno",
        "sqlalchemy",
        "starlette",
        "structlog",
        "ua_parser",
        "uvicorn",
        "zxcvbn",
    }
)
# Typer converts a command's parameters with pydantic (not pydantic-settings): a command's own
# help page may load it, `amanat --help` does not.
TYPER_PARAMETER_TYPES = frozenset({"pydantic", "pydantic_core"})
# What `amanat --help` may load of the project itself.
LIGHT_AMANAT = frozenset(
    {"amanat", "amanat.cli", "amanat.cli.main", "amanat.core", "amanat.core.errors"}
)

COMMANDS = ("serve", "check", "worker", "backup", "db", "admin", "audit", "users", "keys")
GROUPS = {
    "db": ("upgrade", "status"),
    "admin": ("create",),
    "audit": ("verify", "export"),
    "users": ("import",),
    "keys": ("rotate", "reindex", "status"),
}
HELP_ARGVS = [
    ["--help"],
    *([command, "--help"] for command in COMMANDS),
    *([group, command, "--help"] for group, commands in GROUPS.items() for command in commands),
]

# Runs in a fresh interpreter: imports the command line, shows every help page, then lists
# what got imported.
_PROBE = f"""
import json, sys
from amanat.cli.main import run
for argv in json.loads(sys.argv[1]):
    try:
        run(argv)
    except SystemExit as exit:
        assert exit.code == 0, (argv, exit.code)
heavy = {sorted(HEAVY)!r}
print(json.dumps({{
    "heavy": sorted(m for m in sys.modules if m.split(".")[0] in heavy),
    "amanat": sorted(m for m in sys.modules if m.split(".")[0] == "amanat"),
}}))
"""


def _loaded_by(help_argvs: list[list[str]], tmp_path: Path) -> dict[str, list[str]]:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(help_argvs)],
        cwd=tmp_path,
        env=amanat_env(tmp_path / "data"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded: dict[str, list[str]] = json.loads(result.stdout.splitlines()[-1])
    return loaded


def test_importing_the_command_line_loads_no_heavy_package(tmp_path: Path) -> None:
    loaded = _loaded_by([], tmp_path)
    assert loaded["heavy"] == []
    assert set(loaded["amanat"]) <= LIGHT_AMANAT


def test_the_command_list_loads_no_heavy_package(tmp_path: Path) -> None:
    loaded = _loaded_by([["--help"]], tmp_path)
    assert loaded["heavy"] == []
    assert set(loaded["amanat"]) <= LIGHT_AMANAT


def test_every_help_page_loads_no_implementation(tmp_path: Path) -> None:
    loaded = _loaded_by(HELP_ARGVS, tmp_path)
    assert {name.split(".")[0] for name in loaded["heavy"]} <= TYPER_PARAMETER_TYPES
    assert set(loaded["amanat"]) <= LIGHT_AMANAT


def test_help_lists_every_command(tmp_path: Path) -> None:
    result = run_amanat(["--help"], cwd=tmp_path, env=amanat_env(tmp_path / "data"))
    assert result.returncode == 0, result.stderr
    listed = _commands_listed(result.stdout)
    assert listed == list(COMMANDS)


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_each_group_help_lists_its_commands(group: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit:
        main.run([group, "--help"])
    assert exit.value.code == 0
    assert _commands_listed(capsys.readouterr().out) == list(GROUPS[group])


def test_the_batch_size_default_is_the_rotation_batch() -> None:
    assert main.REWRAP_BATCH == REWRAP_BATCH


def _commands_listed(help_text: str) -> list[str]:
    """The first word of each line under `Commands:`."""
    _, _, section = help_text.partition("\nCommands:\n")
    return [line.split()[0] for line in section.splitlines() if line.startswith("  ")]
