"""The personal-data figures measure what they say: the cached data set holds the people its
probes name, a look-up finds exactly the probed person, and percentiles are nearest-rank."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from bench.figures import _people
from bench.figures._people import cached_dataset, percentile, settings_for
from bench.figures.people_lookup import _lookup_times
from bench.registry import all_benchmarks

from amanat.core.runtime import open_runtime


def test_percentile_is_nearest_rank() -> None:
    samples = [float(n) for n in range(1, 101)]
    assert percentile(samples, 0.99) == 99.0
    assert percentile(samples, 0.5) == 50.0
    assert percentile([7.0], 0.99) == 7.0


def test_the_cached_data_set_is_built_once_and_its_probes_are_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_people, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(_people, "PROBES", 20)
    dataset = cached_dataset(60)
    built = (dataset.data_dir / "amanat.db").stat().st_mtime_ns
    again = cached_dataset(60)
    assert (again.data_dir / "amanat.db").stat().st_mtime_ns == built
    assert again.probes == dataset.probes
    assert len(dataset.probes) == 20
    assert not list((tmp_path / "cache").glob("*.partial"))

    async def look_up() -> dict[str, list[float]]:
        runtime = await open_runtime(settings_for(dataset.data_dir))
        try:
            return await _lookup_times(runtime, dataset)
        finally:
            await runtime.database.dispose()

    # Every probe is found by email and by CNIC, as exactly one person (or it raises).
    times = asyncio.run(look_up())
    assert len(times["email"]) == len(times["cnic"]) == len(dataset.probes)
    assert all(elapsed > 0 for elapsed in times["email"] + times["cnic"])


def test_the_personal_data_figures_are_registered() -> None:
    names = set(all_benchmarks())
    assert {
        "lookup_p99_ms_sqlite",
        "lookup_p99_ms_postgres",
        "import_100k_s",
        "audit_verify_per_s",
        "keys_rotate_per_s",
    } <= names
