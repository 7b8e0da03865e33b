"""Measured figures: one JSON line each on stdout, merged into results.json, rendered to RESULTS.md.

results.json maps a figure's name to its latest measurement; running one benchmark replaces its
own figures and keeps every other. RESULTS.md is always regenerated from results.json alone, so
the two never disagree.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent
RESULTS_JSON = "results.json"
RESULTS_MD = "RESULTS.md"
_RESERVED = frozenset({"name", "value", "unit"})


@dataclass(frozen=True)
class Measurement:
    """One figure: a number with its unit, how it was measured, and what it should be."""

    name: str
    value: float
    unit: str
    details: Mapping[str, Any] = field(default_factory=dict)
    method: str = ""
    """A short paragraph: how the figure is measured (RESULTS.md prints it)."""
    goal: str | None = None

    def json_line(self) -> str:
        clashing = _RESERVED & set(self.details)
        if clashing:
            raise ValueError(f"details may not use the keys {sorted(clashing)}")
        return json.dumps(
            {"name": self.name, "value": self.value, "unit": self.unit, **self.details},
            default=str,
        )


def describe_machine() -> str:
    """CPU model, cores, RAM and Python version, in one short line."""
    cpu = platform.processor() or platform.machine()
    try:
        fields = dict(
            (key.strip(), value.strip())
            for key, _, value in (
                line.partition(":") for line in Path("/proc/cpuinfo").read_text().splitlines()
            )
        )
    except OSError:
        fields = {}
    if "model name" in fields:
        # Virtual machines often report a bare "AMD EPYC"; family and model tell generations apart.
        family, model = fields.get("cpu family", "?"), fields.get("model", "?")
        cpu = f"{fields['model name']} (family {family}, model {model})"
    cores = os.cpu_count() or 1
    ram = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f", {int(line.split()[1]) / 1024 / 1024:.0f} GiB RAM"
                break
    except OSError:
        pass
    return f"{cpu}, {cores} cores{ram}, Python {platform.python_version()}"


class Disturbed(RuntimeError):
    """Other work on the machine kept disturbing the measurement; the figure is not recorded."""


def wait_for_quiet(max_busy: float = 0.05, timeout: float = 30.0) -> float:
    """Wait (up to `timeout` seconds) until other work keeps at most `max_busy` cores busy."""
    deadline = time.monotonic() + timeout
    busy = busy_cores()
    while busy > max_busy and time.monotonic() < deadline:
        busy = busy_cores(1.0)
    return busy


def busy_cores(seconds: float = 0.5) -> float:
    """How many cores are busy right now, over `seconds` (0 where /proc/stat is unavailable).

    Called while this process is idle, it measures other work: a benchmark run beside someone's
    test suite measures the test suite too.
    """
    before = machine_busy_seconds()
    time.sleep(seconds)
    return max(0.0, (machine_busy_seconds() - before) / seconds)


def machine_busy_seconds() -> float:
    """Non-idle CPU time of all cores since boot, from /proc/stat; 0 where unavailable."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [int(value) for value in stat.readline().split()[1:8]]
    except (OSError, ValueError):
        return 0.0
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")


def load_results(directory: Path = RESULTS_DIR) -> dict[str, dict[str, Any]]:
    path = directory / RESULTS_JSON
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold an object of figures")
    return data


def record(
    measurements: Iterable[Measurement],
    directory: Path = RESULTS_DIR,
    *,
    machine: str | None = None,
    now: datetime | None = None,
) -> dict[str, dict[str, Any]]:
    """Merge `measurements` into results.json (other figures stay), then rewrite RESULTS.md."""
    results = load_results(directory)
    machine = machine or describe_machine()
    date = (now or datetime.now(UTC)).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    for measurement in measurements:
        results[measurement.name] = {
            "value": measurement.value,
            "unit": measurement.unit,
            "goal": measurement.goal,
            "machine": machine,
            "date": date,
            "method": measurement.method,
            "details": dict(measurement.details),
        }
    ordered = dict(sorted(results.items()))
    _write_atomically(directory / RESULTS_JSON, json.dumps(ordered, indent=2, default=str) + "\n")
    _write_atomically(directory / RESULTS_MD, render_markdown(ordered))
    return ordered


def render_markdown(results: Mapping[str, Mapping[str, Any]]) -> str:
    """The readable page: a table of every figure, then how each one is measured."""
    lines = [
        "# Benchmark results",
        "",
        "Generated by `python -m bench` from `bench/results.json`; do not edit by hand.",
        "Run `python -m bench [NAME ...]` to measure again (`AMANAT_BENCH_SECONDS` sets the",
        "measuring window). Ratios measured in one run on one machine are the figures to compare;",
        "absolute numbers depend on the machine named in each row.",
        "",
        "| figure | value | unit | goal | date | machine |",
        "|---|---:|---|---|---|---|",
    ]
    for name, entry in results.items():
        cells = [
            f"`{name}`",
            format_value(entry.get("value")),
            str(entry.get("unit", "")),
            str(entry.get("goal") or "—"),
            str(entry.get("date", "")),
            str(entry.get("machine", "")),
        ]
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    lines += ["", "## How each figure is measured", ""]
    for name, entry in results.items():
        lines += [f"### `{name}`", "", str(entry.get("method") or "(no description recorded)"), ""]
        details = entry.get("details") or {}
        if details:
            summary = ", ".join(f"{key}={_detail(value)}" for key, value in details.items())
            lines += [f"Last run: {summary}.", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def format_value(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    magnitude = abs(value)
    if isinstance(value, int) or magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _detail(value: Any) -> str:
    if isinstance(value, float):
        return format_value(value).replace(",", "")
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)
