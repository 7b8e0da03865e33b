"""What automatic activity capture costs a signed-in request: `GET /api/v1/me` with capture on
÷ the same with `activity_capture` off, requests/s, same data, same run."""

from __future__ import annotations

from statistics import median
from typing import Any

from bench.figures._members import PREPARED_APP, SESSION_COOKIE, prepared_data, sign_in
from bench.http1 import Request, fetch
from bench.loadgen import LoadResult, LoadSpec, run_load_undisturbed
from bench.registry import measuring_seconds, register
from bench.results import Measurement
from bench.server import RunningServer, running_server, split_cores

USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
ME = Request("GET", "/api/v1/me", (("User-Agent", USER_AGENT),))
CONNECTIONS = 32
ROUNDS = 3
WARMUP_SECONDS = 1.0
MAX_OTHER_SHARE = 0.05


@register(goal="≥ 0.95")
def capture_ratio() -> list[Measurement]:
    """Requests/s of session-authenticated `GET /api/v1/me` (each sending a desktop Chrome
    User-Agent) on a server with activity capture on, divided by requests/s of the same requests
    on a server with `AMANAT_ACTIVITY_CAPTURE=false`. Both servers are the full app
    (`create_app`, production settings, JSON logging to /dev/null, in-process worker off) on the
    same embedded SQLite data directory, under uvicorn pinned to one core; 32 members (second
    factor off on their account) sign in through `POST /api/v1/session` on the capturing server
    first (so their sign-in events and devices exist), and both servers are sent the same session
    cookies in turn. The load generator runs in its own process on the other core with 32
    keep-alive connections, closed loop; the two servers are measured alternately (× 3 rounds,
    each a 1 s warm-up then the measuring window) and the figure is the ratio of the medians. A
    run that saw more than 0.05 of a core of other work is measured again once the machine is
    quiet (up to 3 times), and the figure is not recorded if every attempt was disturbed."""
    seconds = measuring_seconds()
    server_cpus, client_cpus = split_cores()
    runs: dict[str, list[LoadResult]] = {"capture": [], "no_capture": []}
    repeated = 0
    with prepared_data(CONNECTIONS) as data:
        env = {**data.server_env(), "AMANAT_IN_PROCESS_WORKER": "false"}
        with (
            running_server(
                PREPARED_APP, env={**env, "AMANAT_ACTIVITY_CAPTURE": "true"}, cpus=server_cpus
            ) as capturing,
            running_server(
                PREPARED_APP, env={**env, "AMANAT_ACTIVITY_CAPTURE": "false"}, cpus=server_cpus
            ) as plain,
        ):
            tokens = [sign_in(capturing, member) for member in data.members]
            requests = tuple(ME.with_cookies({SESSION_COOKIE: token}) for token in tokens)
            servers = {"capture": capturing, "no_capture": plain}
            for server in servers.values():
                _answers_me(server, requests[0], data.members[0].username)
            for _ in range(ROUNDS):
                for label, server in servers.items():
                    spec = LoadSpec(
                        host=server.host,
                        port=server.port,
                        requests=requests,
                        connections=CONNECTIONS,
                        duration=seconds,
                        warmup=WARMUP_SECONDS,
                        cpus=client_cpus,
                        observe_pids=(server.pid,),
                    )
                    result, discarded = run_load_undisturbed(spec, max_other_share=MAX_OTHER_SHARE)
                    runs[label].append(_checked(result, label))
                    repeated += discarded

    capture_rps = median(r.requests_per_second for r in runs["capture"])
    plain_rps = median(r.requests_per_second for r in runs["no_capture"])
    details: dict[str, Any] = {
        "capture_req_per_s": round(capture_rps, 1),
        "no_capture_req_per_s": round(plain_rps, 1),
        "capture_rounds_req_per_s": [round(r.requests_per_second, 1) for r in runs["capture"]],
        "no_capture_rounds_req_per_s": [
            round(r.requests_per_second, 1) for r in runs["no_capture"]
        ],
        "capture_p99_ms": _median_ms(runs["capture"], 0.99),
        "no_capture_p99_ms": _median_ms(runs["no_capture"], 0.99),
        "sessions": len(tokens),
        "connections": CONNECTIONS,
        "window_s": seconds,
        "rounds": ROUNDS,
        "pinned": server_cpus is not None,
        "max_other_cpu_share": round(
            max(r.other_cpu_seconds / r.duration for r in runs["capture"] + runs["no_capture"]),
            3,
        ),
        "runs_repeated_for_interference": repeated,
    }
    return [
        Measurement(
            name="capture_ratio",
            value=round(capture_rps / plain_rps, 4),
            unit="ratio",
            details=details,
        )
    ]


def _answers_me(server: RunningServer, request: Request, username: str) -> None:
    """The cookie must reach the signed-in path: 200 with the member's own profile."""
    response = fetch(server.host, server.port, request)
    if response.status != 200 or f'"username":"{username}"'.encode() not in response.body:
        raise RuntimeError(f"/api/v1/me answered {response.status}: {response.body[:200]!r}")


def _checked(result: LoadResult, label: str) -> LoadResult:
    if result.ok == 0 or result.errors or result.other_status:
        raise RuntimeError(
            f"{label} run is not clean: ok={result.ok} errors={result.errors} "
            f"statuses={result.status_counts}"
        )
    return result


def _median_ms(results: list[LoadResult], fraction: float) -> float:
    return round(median(r.percentile(fraction) for r in results) * 1000, 3)
