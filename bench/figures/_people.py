"""Shared by the personal-data figures: data directories full of people, made the way the
service makes them (validated, encrypted under each person's own key, blind-indexed).

The large data set (1,000,000 people) takes minutes to build, so it is built once and kept in
`bench/.cache/` (ignored by git); a copy is never changed by a benchmark. Every value is
synthetic: numbered names, `example.com` addresses, CNICs and phone numbers from a counter.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CACHE_DIR = Path(__file__).resolve().parent.parent / ".cache"
DATASET_VERSION = 1
BUILD_BATCH = 5_000
PROBES = 2_000
FIRST_CNIC = 3_520_200_000_000
_PROVINCES = ("Punjab", "Sindh", "Khyber Pakhtunkhwa", "Balochistan", "Islamabad Capital Territory")
_CITIES = ("Lahore", "Karachi", "Peshawar", "Quetta", "Islamabad")
_WORDS = ("Amna", "Bilal", "Chaudhry", "Durrani", "Ejaz", "Farah", "Ghani", "Hassan", "Iqbal")


@dataclass(frozen=True)
class Probe:
    """One person's look-up keys, as an admin would type them."""

    email: str
    cnic: str


@dataclass(frozen=True)
class Dataset:
    data_dir: Path
    account_id: str
    count: int
    probes: tuple[Probe, ...]


def synthetic_entry(number: int) -> Any:
    """Person `number`'s fields: every optional field given, so every index is exercised."""
    from amanat.people.registry import PersonEntry

    province = number % len(_PROVINCES)
    return PersonEntry(
        full_name=f"{_WORDS[number % len(_WORDS)]} Person {number}",
        email=f"person.{number}@example.com",
        phone=f"+9230{number % 100_000_000:08d}",
        cnic=f"{FIRST_CNIC + number}",
        address={
            "line1": f"House {number}, Street {number % 97}",
            "city": _CITIES[province],
            "province": _PROVINCES[province],
            "postal_code": f"{54000 + number % 1000:05d}",
            "country": "PK",
        },
    )


def settings_for(data_dir: Path, **overrides: Any) -> Any:
    from amanat.core.settings import Settings

    chosen: dict[str, Any] = {"database_url": None, "master_key": None, **overrides}
    return Settings(environment="production", data_dir=data_dir, **chosen)


async def create_synthetic_people(
    runtime: Any, account_id: str, numbers: range, progress_every: int = 0
) -> None:
    """Store people `numbers` through `create_people`, one transaction per batch."""
    from amanat.core.db import unit_of_work
    from amanat.people.registry import create_people

    started = time.perf_counter()
    for first in range(numbers.start, numbers.stop, BUILD_BATCH):
        batch = range(first, min(first + BUILD_BATCH, numbers.stop))
        async with unit_of_work(runtime.database) as session:
            outcomes = await create_people(
                session,
                runtime.keyring,
                account_id=account_id,
                entries=[synthetic_entry(number) for number in batch],
            )
        refused = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
        if refused:
            raise RuntimeError(f"{len(refused)} synthetic people refused: {refused[0]!r}")
        done = batch.stop - numbers.start
        if progress_every and done % progress_every == 0:
            rate = done / (time.perf_counter() - started)
            print(f"bench: {done:,} people stored ({rate:,.0f}/s)", file=sys.stderr, flush=True)


async def new_customer_account(runtime: Any, name: str) -> str:
    from amanat.access.actors import OPERATOR
    from amanat.core.db import unit_of_work
    from amanat.identity.accounts import create_customer_account

    async with unit_of_work(runtime.database) as session:
        account = await create_customer_account(session, OPERATOR, name=name)
        account_id: str = account.id
        return account_id


async def _build(data_dir: Path, count: int) -> str:
    from amanat.core.runtime import open_runtime

    runtime = await open_runtime(settings_for(data_dir))
    try:
        account_id = await new_customer_account(runtime, "Bench People")
        await create_synthetic_people(runtime, account_id, range(count), progress_every=100_000)
    finally:
        await runtime.database.dispose()
    return account_id


def cached_dataset(count: int) -> Dataset:
    """The cached data directory of `count` people, built first if it is not there yet."""
    home = CACHE_DIR / f"people-{count}-v{DATASET_VERSION}"
    manifest = home / "manifest.json"
    if not manifest.exists():
        # Built beside its final place and renamed when whole: an interrupted build leaves
        # nothing that looks finished.
        partial = home.with_name(home.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        print(f"bench: building {count:,} people in {home} (once)", file=sys.stderr, flush=True)
        account_id = asyncio.run(_build(partial / "data", count))
        (partial / "manifest.json").write_text(
            json.dumps({"count": count, "account_id": account_id})
        )
        shutil.rmtree(home, ignore_errors=True)
        partial.rename(home)
    facts = json.loads(manifest.read_text())
    chooser = random.Random(count)
    numbers = chooser.sample(range(count), min(PROBES, count))
    probes = tuple(
        Probe(email=f"person.{n}@example.com", cnic=_cnic_as_typed(FIRST_CNIC + n)) for n in numbers
    )
    return Dataset(
        data_dir=home / "data", account_id=facts["account_id"], count=count, probes=probes
    )


def _cnic_as_typed(digits: int) -> str:
    text = f"{digits:013d}"
    return f"{text[:5]}-{text[5:12]}-{text[12]}"


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of `samples` (fraction 0..1)."""
    ordered = sorted(samples)
    rank = math.ceil(fraction * len(ordered))
    return ordered[max(0, min(len(ordered), rank) - 1)]
