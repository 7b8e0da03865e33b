"""The benchmarks `python -m bench` knows: every module in `bench/figures/` registers its own.

A benchmark is a function decorated with `@register(...)` that returns the figures it measured.
Its docstring is the paragraph RESULTS.md prints under each figure that does not bring its own.

    @register(goal="≥ 0.5")
    def noop_stack_ratio() -> list[Measurement]:
        \"\"\"How it is measured, in a few sentences.\"\"\"
        ...
"""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from bench.results import Measurement, busy_cores

FIGURES_PACKAGE = "bench.figures"
SECONDS_ENV = "AMANAT_BENCH_SECONDS"
DEFAULT_SECONDS = 4.0
BUSY_WARNING = 0.1

BenchmarkFunction = Callable[[], Iterable[Measurement]]


@dataclass(frozen=True)
class Benchmark:
    name: str
    function: BenchmarkFunction
    method: str
    goal: str | None

    def run(self) -> list[Measurement]:
        """Run it; fill in each figure's method and goal where the figure left them out.

        Each figure's details also record how many cores other work kept busy just before, so a
        figure measured beside someone's test run can be told from a clean one.
        """
        background = round(busy_cores(), 2)
        if background > BUSY_WARNING:
            print(
                f"bench: warning: {background} cores busy with other work before {self.name}",
                file=sys.stderr,
            )
        return [
            replace(
                measurement,
                method=measurement.method or self.method,
                goal=measurement.goal if measurement.goal is not None else self.goal,
                details={**measurement.details, "background_busy_cores": background},
            )
            for measurement in self.function()
        ]


_REGISTRY: dict[str, Benchmark] = {}


def register(
    name: str | None = None, *, goal: str | None = None
) -> Callable[[BenchmarkFunction], BenchmarkFunction]:
    """Add the decorated function to the benchmarks, under `name` or its own name."""

    def decorate(function: BenchmarkFunction) -> BenchmarkFunction:
        key = name or function.__name__
        existing = _REGISTRY.get(key)
        if existing is not None and existing.function.__qualname__ != function.__qualname__:
            raise ValueError(f"benchmark {key!r} is registered twice")
        method = " ".join((inspect.getdoc(function) or "").split())
        _REGISTRY[key] = Benchmark(name=key, function=function, method=method, goal=goal)
        return function

    return decorate


def all_benchmarks() -> dict[str, Benchmark]:
    """Every registered benchmark (importing all of `bench/figures/` first), by name."""
    package = importlib.import_module(FIGURES_PACKAGE)
    for module in pkgutil.iter_modules(package.__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{FIGURES_PACKAGE}.{module.name}")
    return dict(sorted(_REGISTRY.items()))


def measuring_seconds(default: float = DEFAULT_SECONDS) -> float:
    """The base measuring window: `AMANAT_BENCH_SECONDS`, or `default` (seconds)."""
    raw = os.environ.get(SECONDS_ENV, "").strip()
    if not raw:
        return default
    try:
        seconds = float(raw)
    except ValueError:
        raise ValueError(f"{SECONDS_ENV} must be a number of seconds, not {raw!r}") from None
    if not 0 < seconds <= 600:
        raise ValueError(f"{SECONDS_ENV} must be between 0 and 600 seconds")
    return seconds
