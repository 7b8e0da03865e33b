"""`python -m bench [NAME ...]`: run every benchmark, or the named ones, and record their figures.

Each figure is printed as one JSON line on stdout as soon as its benchmark finishes, then merged
into bench/results.json, and bench/RESULTS.md is regenerated. Exit status 2: a name is unknown;
1: a benchmark was disturbed by other work on the machine and its figures were not recorded.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.registry import SECONDS_ENV, all_benchmarks, measuring_seconds
from bench.results import RESULTS_DIR, Disturbed, describe_machine, record


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=f"Run Amanat's benchmarks ({SECONDS_ENV} sets the measuring window).",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (default all)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=RESULTS_DIR,
        help="where results.json and RESULTS.md live (default: bench/)",
    )
    args = parser.parse_args(argv)

    benchmarks = all_benchmarks()
    if args.list:
        for name, benchmark in benchmarks.items():
            print(f"{name}: {benchmark.method.split('. ')[0]}")
        return 0
    unknown = [name for name in args.names if name not in benchmarks]
    if unknown:
        print(
            f"bench: unknown benchmark {', '.join(unknown)} (known: {', '.join(benchmarks)})",
            file=sys.stderr,
        )
        return 2
    try:
        measuring_seconds()
    except ValueError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2

    machine = describe_machine()
    status = 0
    for name in args.names or list(benchmarks):
        try:
            measurements = benchmarks[name].run()
        except Disturbed as exc:
            print(f"bench: {name} not recorded: {exc}", file=sys.stderr)
            status = 1
            continue
        for measurement in measurements:
            print(measurement.json_line(), flush=True)
        # Recorded per benchmark, so a later failure keeps what was already measured.
        record(measurements, args.results_dir, machine=machine)
    return status


if __name__ == "__main__":
    sys.exit(main())
