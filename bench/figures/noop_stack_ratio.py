"""What the whole stack costs on a request that does nothing: full app ÷ bare ASGI, req/s."""

from __future__ import annotations

from statistics import median
from typing import Any

from bench.http1 import Request, fetch
from bench.loadgen import LoadResult, LoadSpec, run_load_undisturbed
from bench.registry import measuring_seconds, register
from bench.results import Measurement
from bench.server import RunningServer, running_server, split_cores

FULL_APP = "bench.apps:full_app"
BARE_APP = "bench.apps:bare_app"
HEALTHZ = Request("GET", "/healthz")
ROUNDS = 3
WARMUP_SECONDS = 1.0
CONNECTIONS = 32
# The client has headroom if, while the bare app saturates the server's core, the client's
# core is not saturated.
SATURATED = 0.9


@register()
def noop_stack_ratio() -> list[Measurement]:
    """Requests/s of `GET /healthz` on the full app (`create_app`, production settings, JSON
    request logging to /dev/null, embedded SQLite data directory) divided by requests/s of a bare
    raw-ASGI callable that returns the same body and content type. Both are served by the same
    uvicorn options (1 worker, httptools, uvloop, plain HTTP on loopback, no access log) pinned to
    one core; the load generator runs in its own process on the other core with 32 keep-alive
    connections, closed loop. The two apps are measured alternately (full, bare, × 3 rounds, each a
    1 s warm-up then the measuring window) and the figure is the ratio of the medians. The bare
    runs double as the check that the client is not the bottleneck: their server core is
    saturated and the client's is not. CPU time that neither used during a window
    is interference from other work: a run that saw more than 0.05 of a core of it is measured
    again once the machine is quiet (up to 3 times), and the figure is not recorded if every
    attempt was disturbed."""
    seconds = measuring_seconds()
    server_cpus, client_cpus = split_cores()
    runs: dict[str, list[LoadResult]] = {"full": [], "bare": []}
    repeated = 0
    with (
        running_server(FULL_APP, cpus=server_cpus) as full,
        running_server(BARE_APP, cpus=server_cpus) as bare,
    ):
        servers = {"full": full, "bare": bare}
        _same_answer(full, bare)
        for _ in range(ROUNDS):
            for label, server in servers.items():
                spec = LoadSpec(
                    host=server.host,
                    port=server.port,
                    requests=(HEALTHZ,),
                    connections=CONNECTIONS,
                    duration=seconds,
                    warmup=WARMUP_SECONDS,
                    cpus=client_cpus,
                    observe_pids=(server.pid,),
                )
                result, discarded = run_load_undisturbed(spec)
                runs[label].append(_checked(result, label))
                repeated += discarded

    full_rps = median(r.requests_per_second for r in runs["full"])
    bare_rps = median(r.requests_per_second for r in runs["bare"])
    client_share = median(_share(r.client_cpu_seconds, r) for r in runs["bare"])
    bare_server_share = median(
        _share(sum(r.observed_cpu_seconds.values()), r) for r in runs["bare"]
    )
    other_share = max(_share(r.other_cpu_seconds, r) for r in runs["full"] + runs["bare"])
    details: dict[str, Any] = {
        "full_app_req_per_s": round(full_rps, 1),
        "bare_asgi_req_per_s": round(bare_rps, 1),
        "full_rounds_req_per_s": [round(r.requests_per_second, 1) for r in runs["full"]],
        "bare_rounds_req_per_s": [round(r.requests_per_second, 1) for r in runs["bare"]],
        "full_p50_ms": _median_ms(runs["full"], 0.50),
        "full_p99_ms": _median_ms(runs["full"], 0.99),
        "bare_p99_ms": _median_ms(runs["bare"], 0.99),
        "connections": CONNECTIONS,
        "window_s": seconds,
        "rounds": ROUNDS,
        "pinned": server_cpus is not None,
        "bare_run_server_cpu_share": round(bare_server_share, 3),
        "bare_run_client_cpu_share": round(client_share, 3),
        "client_not_bottleneck": client_share < SATURATED <= bare_server_share,
        "max_other_cpu_share": round(other_share, 3),
        "runs_repeated_for_interference": repeated,
    }
    return [
        Measurement(
            name="noop_stack_ratio",
            value=round(full_rps / bare_rps, 4),
            unit="ratio",
            details=details,
        )
    ]


def _same_answer(full: RunningServer, bare: RunningServer) -> None:
    """Both apps must give the same body and content type, or the ratio compares unlike work."""
    answers = [fetch(server.host, server.port, HEALTHZ) for server in (full, bare)]
    shapes = {(a.status, a.body, a.header("content-type")) for a in answers}
    if len(shapes) != 1:
        raise RuntimeError(f"full and bare apps answer differently: {sorted(shapes)}")


def _checked(result: LoadResult, label: str) -> LoadResult:
    if result.ok == 0 or result.errors or result.other_status:
        raise RuntimeError(
            f"{label} run is not clean: ok={result.ok} errors={result.errors} "
            f"statuses={result.status_counts}"
        )
    return result


def _share(cpu_seconds: float, result: LoadResult) -> float:
    """CPU seconds over the window, as a share of one core."""
    return cpu_seconds / result.duration


def _median_ms(results: list[LoadResult], fraction: float) -> float:
    return round(median(r.percentile(fraction) for r in results) * 1000, 3)
