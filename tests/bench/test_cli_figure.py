"""The start-up figure times whole processes, in turns, with the bytecode cache it says."""

from __future__ import annotations

import sys
from pathlib import Path

from bench.figures.cli_help_s import bytecode_env, time_runs
from bench.registry import all_benchmarks


def test_the_figure_is_registered_with_its_goal() -> None:
    benchmark = all_benchmarks()["cli_help_s"]
    assert benchmark.goal == "≤ 0.4 s"
    assert "python -c pass" in benchmark.method


def test_each_command_is_timed_once_per_run(tmp_path: Path) -> None:
    commands = {"pass": (sys.executable, "-c", "pass"), "other": (sys.executable, "-c", "1")}
    runs = time_runs(commands, bytecode_env(tmp_path, write=True), runs=2)
    for label in commands:
        assert len(runs.wall[label]) == len(runs.cpu[label]) == 2
        assert all(seconds > 0 for seconds in runs.wall[label])
        assert all(seconds >= 0 for seconds in runs.cpu[label])
    assert runs.elapsed >= sum(runs.wall["pass"] + runs.wall["other"])
    assert runs.other_share >= 0


def test_bytecode_goes_to_the_private_cache_only_when_asked(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "probe_module.py").write_text("VALUE = 1\n")
    command = (
        sys.executable,
        "-c",
        f"import sys; sys.path.insert(0, {str(source)!r}); import probe_module",
    )

    time_runs({"import": command}, bytecode_env(tmp_path / "cold", write=False), runs=1)
    assert not list(tmp_path.glob("cold/**/probe_module*.pyc"))

    time_runs({"import": command}, bytecode_env(tmp_path / "warm", write=True), runs=1)
    assert list(tmp_path.glob("warm/**/probe_module*.pyc"))
    assert not list(source.glob("**/*.pyc"))
