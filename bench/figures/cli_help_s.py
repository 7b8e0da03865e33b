"""How long the command line takes to start: `amanat --help`, beside a Python that does nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from statistics import median
from typing import Any

from bench.registry import register
from bench.results import Disturbed, Measurement, machine_busy_seconds, wait_for_quiet

RUNS = 5
ATTEMPTS = 3
# Starting a process is short and easily slowed by whatever else runs; a set of runs that saw
# more than this share of a core of other work is measured again.
MAX_OTHER_SHARE = 0.1
HELP = (str(Path(sys.executable).with_name("amanat")), "--help")
PYTHON_PASS = (sys.executable, "-c", "pass")


@dataclass(frozen=True)
class Runs:
    """Wall and CPU seconds of each run of each command, run in turns."""

    wall: dict[str, list[float]]
    cpu: dict[str, list[float]]
    elapsed: float
    other_share: float

    def median_wall(self, label: str) -> float:
        return round(median(self.wall[label]), 4)

    def median_cpu(self, label: str) -> float:
        return round(median(self.cpu[label]), 4)


def bytecode_env(cache: Path, *, write: bool) -> dict[str, str]:
    """This environment with Python's bytecode kept in `cache` only (written there unless not
    `write`): the figure then does not depend on .pyc files in the virtualenv or the source."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    if not write:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def time_runs(
    commands: Mapping[str, Sequence[str]], env: Mapping[str, str], runs: int = RUNS
) -> Runs:
    """Run each command `runs` times, in turns (so drift touches all alike), output discarded."""
    wall: dict[str, list[float]] = {label: [] for label in commands}
    cpu: dict[str, list[float]] = {label: [] for label in commands}
    with tempfile.TemporaryDirectory(prefix="amanat-bench-cli-") as cwd:
        busy_before, own_before = machine_busy_seconds(), time.process_time()
        children_before = _children_cpu()
        started = time.perf_counter()
        for _ in range(runs):
            for label, command in commands.items():
                child_cpu = _children_cpu()
                begun = time.perf_counter()
                subprocess.run(
                    list(command),
                    cwd=cwd,
                    env=dict(env),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    check=True,
                )
                wall[label].append(time.perf_counter() - begun)
                cpu[label].append(_children_cpu() - child_cpu)
        elapsed = time.perf_counter() - started
        ours = (_children_cpu() - children_before) + (time.process_time() - own_before)
        other = max(0.0, machine_busy_seconds() - busy_before - ours)
    return Runs(wall=wall, cpu=cpu, elapsed=elapsed, other_share=other / elapsed)


def _children_cpu() -> float:
    times = os.times()
    return times.children_user + times.children_system


@register(goal="≤ 0.4 s")
def cli_help_s() -> list[Measurement]:
    """Wall time of `amanat --help`, the virtualenv's console script run as a whole process
    (output discarded), median of 5 runs; each run alternates with one of `python -c pass` on the
    same interpreter (median of 5, recorded beside it: what any Python command pays to start).
    Both use bytecode compiled by one run beforehand into a private cache (PYTHONPYCACHEPREFIX),
    as an installed package has its .pyc files; the details also give the median of 5 runs that
    compile every module each time (PYTHONDONTWRITEBYTECODE, empty cache) and the CPU time of
    each command. A set of runs during which other work kept more than 0.1 of a core busy is
    measured again once the machine is quiet (up to 3 times), and the figure is not recorded if
    every attempt was disturbed."""
    commands = {"help": HELP, "pass": PYTHON_PASS}
    with tempfile.TemporaryDirectory(prefix="amanat-bench-pyc-") as cache:
        cached = bytecode_env(Path(cache) / "warm", write=True)
        time_runs(commands, cached, runs=1)  # compiles into the cache
        for repeated in range(ATTEMPTS):
            if repeated:
                wait_for_quiet(MAX_OTHER_SHARE)
            runs = time_runs(commands, cached)
            if runs.other_share <= MAX_OTHER_SHARE:
                break
        else:
            raise Disturbed(
                f"other work took {runs.other_share:.2f} of a core in each of {ATTEMPTS} sets"
            )
        uncached = time_runs({"help": HELP}, bytecode_env(Path(cache) / "cold", write=False))
    details: dict[str, Any] = {
        "python_pass_s": runs.median_wall("pass"),
        "help_minus_pass_s": round(runs.median_wall("help") - runs.median_wall("pass"), 4),
        "help_runs_s": [round(s, 4) for s in runs.wall["help"]],
        "pass_runs_s": [round(s, 4) for s in runs.wall["pass"]],
        "help_cpu_s": runs.median_cpu("help"),
        "pass_cpu_s": runs.median_cpu("pass"),
        "help_without_bytecode_cache_s": uncached.median_wall("help"),
        "runs": RUNS,
        "other_cpu_share": round(runs.other_share, 3),
        "sets_repeated_for_interference": repeated,
        "typer": version("typer"),
    }
    return [
        Measurement(name="cli_help_s", value=runs.median_wall("help"), unit="s", details=details)
    ]
