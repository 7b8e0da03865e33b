"""Running the real `amanat` command in a child process, as an operator would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.leak_guard import LOG_LINE, see_lines, seed

AMANAT = str(Path(sys.executable).parent / "amanat")

# Command-line options that carry a person's fields, by the field's service name (an address
# line as `address.line1`).
_PERSON_OPTIONS = {
    "--email": "email",
    "--name": "full_name",
    "--full-name": "full_name",
    "--phone": "phone",
    "--cnic": "cnic",
    "--address-line1": "address.line1",
    "--address-line2": "address.line2",
}


def amanat_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMANAT_")}
    env["AMANAT_DATA_DIR"] = str(data_dir)
    env.update(extra)
    return env


def run_amanat(
    args: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    seed_person_options(args)
    result = subprocess.run(
        [AMANAT, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    see_lines(LOG_LINE, log_lines_of(result.stdout) + log_lines_of(result.stderr))
    return result


def seed_person_options(args: list[str]) -> None:
    """Person fields given on the command line are seeded, as the service would see them."""
    for position, arg in enumerate(args):
        option, equals, value = arg.partition("=")
        field = _PERSON_OPTIONS.get(option)
        if field is None:
            continue
        if not equals:
            value = args[position + 1] if position + 1 < len(args) else ""
        name, _dot, part = field.partition(".")
        seed({name: {part: value}} if part else {name: value})


def log_lines_of(output: str) -> list[str]:
    """The JSON log lines of a command's output (the rest is what it tells the operator)."""
    lines: list[str] = []
    for line in output.splitlines():
        if not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and "event" in entry:
            lines.append(line)
    return lines


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """The command refused as the operator's errors do: exit 2, one line holding `fragments`."""
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("amanat: error: ")
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
