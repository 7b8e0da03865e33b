"""What a user waits for a sign-in when the server runs at 80 % of its sign-in capacity."""

from __future__ import annotations

import math
from typing import Any

from bench.figures._members import (
    PREPARED_APP,
    prepared_data,
    remember_capacity,
    remembered_capacity,
    sign_in_browser,
)
from bench.figures.signin_vs_hash_ratio import (
    MAX_OTHER_SHARE,
    checked,
    signin_load,
    status_counts,
)
from bench.loadgen import LoadResult, run_load_undisturbed
from bench.registry import measuring_seconds, register
from bench.results import Measurement
from bench.server import running_server, split_cores

LOAD_SHARE = 0.8
ROUNDS = 3
WINDOW_FACTOR = 2.0
CONNECTIONS = 32


@register()
def signin_p99_ms() -> list[Measurement]:
    """99th-percentile latency of `POST /api/v1/session` (a full password sign-in, real
    argon2id) at 80 % of the sign-in capacity, open loop: requests fall due at fixed intervals
    whether or not earlier ones were answered, and each latency counts from when the request was
    due, so queueing is inside it. The capacity is the closed-loop sign-ins/s that
    `signin_vs_hash_ratio` measured earlier in the same run; run alone, this benchmark measures
    it first the same way (one connection, closed loop) on the same server. Same server set-up as
    `signin_vs_hash_ratio`: the full app in production settings with 50 members signing in again
    from the browser they used before (device cookie and User-Agent sent), uvicorn pinned
    to one core, the load generator on the other core with up to 32 keep-alive connections. Three
    windows of twice the measuring window each (after a 2 s warm-up) are pooled for the
    percentiles; a window that saw more than 0.05 of a core of other work is measured again once
    the machine is quiet (up to 3 times), and the figure is not recorded if every attempt was
    disturbed. The generator makes requests due at evenly spaced times (no bursts). The
    percentiles are of the 200s; any other answer is counted beside them (`failed`,
    `failed_share`)."""
    seconds = measuring_seconds()
    server_cpus, client_cpus = split_cores()
    capacity = remembered_capacity()
    capacity_source = "signin_vs_hash_ratio, same run"
    repeated = 0
    rounds: list[LoadResult] = []
    with (
        prepared_data() as data,
        running_server(PREPARED_APP, env=data.server_env(), cpus=server_cpus) as server,
    ):
        browsers = [sign_in_browser(server, member) for member in data.members]
        if capacity is None:
            closed, discarded = run_load_undisturbed(
                signin_load(server, browsers, seconds, client_cpus), max_other_share=MAX_OTHER_SHARE
            )
            capacity = checked(closed, "capacity").requests_per_second
            remember_capacity(capacity)
            capacity_source = "measured first, closed loop"
            repeated += discarded
        rate = round(LOAD_SHARE * capacity, 2)
        for _ in range(ROUNDS):
            spec = signin_load(
                server,
                browsers,
                WINDOW_FACTOR * seconds,
                client_cpus,
                rate=rate,
                connections=CONNECTIONS,
            )
            result, discarded = run_load_undisturbed(spec, max_other_share=MAX_OTHER_SHARE)
            rounds.append(checked(result, "open-loop sign-in"))
            repeated += discarded

    latencies = sorted(latency for result in rounds for latency in result.latencies)
    window = sum(result.duration for result in rounds)
    failed = sum(result.other_status for result in rounds)
    details: dict[str, Any] = {
        "p50_ms": _ms(latencies, 0.50),
        "p90_ms": _ms(latencies, 0.90),
        "p99_ms": _ms(latencies, 0.99),
        "max_ms": round(latencies[-1] * 1000, 1),
        "target_rate_per_s": rate,
        "achieved_rate_per_s": round(len(latencies) / window, 2),
        "capacity_signins_per_s": round(capacity, 2),
        "capacity_source": capacity_source,
        "load_share": LOAD_SHARE,
        "signins": len(latencies),
        "failed": failed,
        "failed_share": round(failed / max(1, failed + len(latencies)), 4),
        "status_counts": status_counts(*rounds),
        "unsent": sum(result.unsent for result in rounds),
        "rounds_p99_ms": [result.summary()["p99_ms"] for result in rounds],
        "rounds": ROUNDS,
        "window_s": round(window, 3),
        "connections": CONNECTIONS,
        "members": len(data.members),
        "pinned": server_cpus is not None,
        "server_cpu_share": round(
            sum(sum(r.observed_cpu_seconds.values()) for r in rounds) / window, 3
        ),
        "max_other_cpu_share": round(max(r.other_cpu_seconds / r.duration for r in rounds), 3),
        "runs_repeated_for_interference": repeated,
    }
    return [
        Measurement(
            name="signin_p99_ms",
            value=_ms(latencies, 0.99),
            unit="ms",
            details=details,
        )
    ]


def _ms(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of sorted latencies (seconds), in milliseconds."""
    rank = max(1, math.ceil(fraction * len(ordered)))
    return round(ordered[min(rank, len(ordered)) - 1] * 1000, 1)
