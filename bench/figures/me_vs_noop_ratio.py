"""What a signed-in request costs next to one that does nothing: `GET /api/v1/me` ÷ `/healthz`."""

from __future__ import annotations

from statistics import median
from typing import Any

from bench.apps import RAW_ME_PATH
from bench.figures._members import browser_request, prepared_data, sign_in_browser
from bench.figures.signin_vs_hash_ratio import MAX_OTHER_SHARE, checked, status_counts
from bench.http1 import Request, fetch
from bench.loadgen import LoadResult, LoadSpec, run_load_undisturbed
from bench.registry import measuring_seconds, register
from bench.results import Measurement
from bench.server import RunningServer, running_server, split_cores

ME_PATH = "/api/v1/me"
# The app with the raw-SQL floor route beside the real one (bench.apps).
APP_WITH_FLOOR = "bench.apps:prepared_app_with_raw_me"
HEALTHZ = Request("GET", "/healthz")
CONNECTIONS = 32
ROUNDS = 3
WARMUP_SECONDS = 1.0


@register(goal="≥ 0.5")
def me_vs_noop_ratio() -> list[Measurement]:
    """Requests/s of session-authenticated `GET /api/v1/me` divided by requests/s of `GET
    /healthz` on the same server in the same run. The full app (`create_app`, production settings,
    JSON logging to /dev/null, embedded SQLite) under uvicorn pinned to one core; 32 members
    (second factor switched off on their account) are signed in through `POST /api/v1/session`
    first, and `/me` requests carry their browsers' cookies (session and device) and a Chrome
    User-Agent in turn (the session is looked up,
    the user loaded, the person's name and email decrypted with their own data key). The load
    generator runs in its own process on the other core with 32 keep-alive connections, closed
    loop; `/me` and `/healthz` are measured alternately (× 3 rounds, each a 1 s warm-up then the
    measuring window) and the figure is the ratio of the medians (of 2xx answers; any other is
    counted in the details). A run that saw more than 0.05
    of a core of other work is measured again once the machine is quiet (up to 3 times), and the
    figure is not recorded if every attempt was disturbed. In the same rounds, `GET /bench/raw-me`
    is measured too: a route added by the benchmark only (`bench.apps.prepared_app_with_raw_me`)
    that answers the same caller's name and email through the same stack with hand-written SQL on
    plain sqlite3 and no SQLAlchemy; its ratio to `/healthz` (`raw_me_vs_noop_ratio` in the
    details) is the floor the required work leaves in this stack."""
    seconds = measuring_seconds()
    server_cpus, client_cpus = split_cores()
    runs: dict[str, list[LoadResult]] = {"me": [], "raw_me": [], "healthz": []}
    repeated = 0
    with (
        prepared_data(CONNECTIONS) as data,
        running_server(APP_WITH_FLOOR, env=data.server_env(), cpus=server_cpus) as server,
    ):
        browsers = [sign_in_browser(server, member) for member in data.members]
        me_requests = tuple(
            browser_request("GET", ME_PATH, browser.cookies) for browser in browsers
        )
        _answers_me(server, me_requests[0], data.members[0].username)
        raw_requests = tuple(
            browser_request("GET", RAW_ME_PATH, browser.cookies) for browser in browsers
        )
        _answers_me(server, raw_requests[0], data.members[0].username)
        requests = {"me": me_requests, "raw_me": raw_requests, "healthz": (HEALTHZ,)}
        for _ in range(ROUNDS):
            for label, sent in requests.items():
                spec = LoadSpec(
                    host=server.host,
                    port=server.port,
                    requests=sent,
                    connections=CONNECTIONS,
                    duration=seconds,
                    warmup=WARMUP_SECONDS,
                    cpus=client_cpus,
                    observe_pids=(server.pid,),
                )
                result, discarded = run_load_undisturbed(spec, max_other_share=MAX_OTHER_SHARE)
                runs[label].append(checked(result, label))
                repeated += discarded

    me_rps = median(r.requests_per_second for r in runs["me"])
    healthz_rps = median(r.requests_per_second for r in runs["healthz"])
    raw_rps = median(r.requests_per_second for r in runs["raw_me"])
    details: dict[str, Any] = {
        "me_req_per_s": round(me_rps, 1),
        "healthz_req_per_s": round(healthz_rps, 1),
        "raw_me_req_per_s": round(raw_rps, 1),
        "raw_me_vs_noop_ratio": round(raw_rps / healthz_rps, 4),
        "raw_me_rounds_req_per_s": [round(r.requests_per_second, 1) for r in runs["raw_me"]],
        "raw_me_status_counts": status_counts(*runs["raw_me"]),
        "me_rounds_req_per_s": [round(r.requests_per_second, 1) for r in runs["me"]],
        "healthz_rounds_req_per_s": [round(r.requests_per_second, 1) for r in runs["healthz"]],
        "me_p50_ms": _median_ms(runs["me"], 0.50),
        "me_p99_ms": _median_ms(runs["me"], 0.99),
        "healthz_p99_ms": _median_ms(runs["healthz"], 0.99),
        "me_status_counts": status_counts(*runs["me"]),
        "healthz_status_counts": status_counts(*runs["healthz"]),
        "sessions": len(browsers),
        "connections": CONNECTIONS,
        "window_s": seconds,
        "rounds": ROUNDS,
        "pinned": server_cpus is not None,
        "me_server_cpu_share": _median_share(runs["me"], server=True),
        "healthz_server_cpu_share": _median_share(runs["healthz"], server=True),
        "healthz_client_cpu_share": _median_share(runs["healthz"], server=False),
        "max_other_cpu_share": round(
            max(r.other_cpu_seconds / r.duration for label in runs for r in runs[label]), 3
        ),
        "runs_repeated_for_interference": repeated,
    }
    return [
        Measurement(
            name="me_vs_noop_ratio",
            value=round(me_rps / healthz_rps, 4),
            unit="ratio",
            details=details,
        )
    ]


def _answers_me(server: RunningServer, request: Request, username: str) -> None:
    """The cookie must reach the signed-in path: 200 with the member's own profile."""
    response = fetch(server.host, server.port, request)
    if response.status != 200 or f'"username":"{username}"'.encode() not in response.body:
        raise RuntimeError(f"/api/v1/me answered {response.status}: {response.body[:200]!r}")


def _median_share(results: list[LoadResult], *, server: bool) -> float:
    """Median CPU use over the window, as a share of one core: the server's or the client's."""
    shares = [
        (sum(r.observed_cpu_seconds.values()) if server else r.client_cpu_seconds) / r.duration
        for r in results
    ]
    return round(median(shares), 3)


def _median_ms(results: list[LoadResult], fraction: float) -> float:
    return round(median(r.percentile(fraction) for r in results) * 1000, 3)
