"""An HTTP/1.1 load generator: K keep-alive connections, closed loop or at a fixed rate (open loop).

`run_load(spec)` runs it in a fresh process of its own, so that on a small machine the client and
the server under test each get a core; `run_load_async(spec)` runs it on the caller's event loop.

Closed loop: each connection sends its next request as soon as the previous response is read, so
the figure is the throughput the server sustains. Open loop (`rate` given): requests are due at
fixed intervals whether or not earlier ones have been answered; a due request waits for a free
connection, and its latency counts from when it was due (no coordinated omission), so p99 at a
rate is what a user arriving at that rate would see.

Requests are made due on a millisecond timer and, in between, whenever a response frees a
connection; at low rates a request may go out up to about 1 ms after it was due, and that lateness
is inside its latency (it is the client's, so read p50s below a few ms with that in mind).

Only responses completed inside the measuring window count; the warm-up before it and the drain
after it (in-flight requests are read to the end, never cut off) are not measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import multiprocessing
import os
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, cast

from bench.http1 import ProtocolError, Request, ResponseParser
from bench.results import Disturbed, machine_busy_seconds, wait_for_quiet

TICK_SECONDS = 0.001
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class LoadGeneratorFault(RuntimeError):
    """The generator itself failed (an exception in a callback), so its counts are void."""


@dataclass(frozen=True)
class LoadSpec:
    """What to send, where, how hard and for how long."""

    host: str
    port: int
    requests: tuple[Request, ...] = (Request(),)
    connections: int = 32
    duration: float = 5.0
    warmup: float = 1.0
    rate: float | None = None
    timeout: float = 10.0
    cpus: frozenset[int] | None = None
    """CPUs to pin the generator's process to (only in `run_load`'s own process)."""
    observe_pids: tuple[int, ...] = ()
    """Processes (the server) whose CPU time over the measuring window is reported."""

    def __post_init__(self) -> None:
        if not self.requests:
            raise ValueError("at least one request is needed")
        if self.connections < 1 or self.duration <= 0 or self.warmup < 0 or self.timeout <= 0:
            raise ValueError("connections, duration and timeout must be positive")
        if self.rate is not None and self.rate <= 0:
            raise ValueError("rate must be positive")


@dataclass
class LoadResult:
    """What happened inside the measuring window (and a few whole-run totals for checking)."""

    duration: float
    connections: int
    target_rate: float | None
    ok: int = 0
    """2xx responses completed inside the window."""
    other_status: int = 0
    errors: int = 0
    """Failed requests inside the window: connection lost, timeout, malformed response."""
    status_counts: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    """Seconds, of each 2xx response in the window (from send, or from due time at a rate)."""
    unsent: int = 0
    """Open loop: requests that were due but never got a connection before the window closed."""
    sent_total: int = 0
    responses_total: int = 0
    errors_total: int = 0
    client_cpu_seconds: float = 0.0
    observed_cpu_seconds: dict[int, float] = field(default_factory=dict)
    machine_cpu_seconds: float = 0.0
    """Busy CPU time of the whole machine over the window (all processes, all cores)."""

    @property
    def other_cpu_seconds(self) -> float:
        """CPU time neither the client nor an observed process used: interference, if large."""
        used = self.client_cpu_seconds + sum(self.observed_cpu_seconds.values())
        return max(0.0, self.machine_cpu_seconds - used)

    @property
    def requests_per_second(self) -> float:
        return self.ok / self.duration if self.duration > 0 else 0.0

    def percentile(self, fraction: float) -> float:
        """Nearest-rank percentile of the 2xx latencies, in seconds (NaN when there are none)."""
        if not self.latencies:
            return math.nan
        ordered = sorted(self.latencies)
        rank = max(1, math.ceil(fraction * len(ordered)))
        return ordered[min(rank, len(ordered)) - 1]

    def summary(self) -> dict[str, Any]:
        """Round numbers for reports (latencies in ms, CPU as a share of one core)."""
        ordered = sorted(self.latencies)

        def ms(fraction: float) -> float | None:
            if not ordered:
                return None
            rank = max(1, math.ceil(fraction * len(ordered)))
            return round(ordered[min(rank, len(ordered)) - 1] * 1000, 3)

        out: dict[str, Any] = {
            "requests_per_s": round(self.requests_per_second, 1),
            "ok": self.ok,
            "other_status": self.other_status,
            "errors": self.errors,
            "window_s": round(self.duration, 3),
            "connections": self.connections,
            "p50_ms": ms(0.50),
            "p90_ms": ms(0.90),
            "p99_ms": ms(0.99),
            "max_ms": round(ordered[-1] * 1000, 3) if ordered else None,
            "client_cpu_share": round(self.client_cpu_seconds / self.duration, 3),
            "other_cpu_share": round(self.other_cpu_seconds / self.duration, 3),
        }
        if self.target_rate is not None:
            out["target_rate_per_s"] = self.target_rate
            out["unsent"] = self.unsent
        for pid, seconds in self.observed_cpu_seconds.items():
            out[f"cpu_share_pid_{pid}"] = round(seconds / self.duration, 3)
        return out


def run_load(spec: LoadSpec) -> LoadResult:
    """Run the load from a fresh process of its own (pinned to `spec.cpus` if given)."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(_load_process_entry, spec).result()


def run_load_undisturbed(
    spec: LoadSpec, *, max_other_share: float = 0.05, attempts: int = 3
) -> tuple[LoadResult, int]:
    """`run_load`, measured again while other work took more than `max_other_share` of a core
    during the window (a shared machine), after waiting for the machine to go quiet.

    Returns the result and how many runs were discarded; raises `Disturbed` if every one was.
    """
    other_share = 0.0
    for attempt in range(attempts):
        if attempt:
            wait_for_quiet(max_other_share)
        result = run_load(spec)
        other_share = result.other_cpu_seconds / result.duration
        if other_share <= max_other_share:
            return result, attempt
    raise Disturbed(
        f"other work took {other_share:.2f} of a core during each of {attempts} load runs"
    )


def _load_process_entry(spec: LoadSpec) -> LoadResult:
    if spec.cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, spec.cpus)
    return run_load_here(spec)


def run_load_here(spec: LoadSpec) -> LoadResult:
    """Run the load on a new event loop in this process (uvloop when installed)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        return asyncio.run(run_load_async(spec))
    return uvloop.run(run_load_async(spec))


async def run_load_async(spec: LoadSpec) -> LoadResult:
    """Run the load on the running event loop; returns when the window has closed and drained."""
    return await _LoadRun(spec).run()


class _Connection(asyncio.Protocol):
    """One keep-alive connection with at most one request in flight."""

    def __init__(self, run: _LoadRun, index: int) -> None:
        self.run = run
        self.next_request = index
        self.transport: asyncio.Transport | None = None
        self.parser = ResponseParser()
        self.origin = 0.0  # when the latency clock started: sent, or due (open loop)
        self.sent_at = 0.0
        self.busy = False
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without inheriting from it.
        self.transport = cast(asyncio.Transport, transport)
        self.run.connection_ready(self)

    def send(self, origin: float) -> None:
        run = self.run
        which = self.next_request % len(run.payloads)
        self.next_request += 1
        self.parser.expects_body = run.expects_body[which]
        self.origin = origin
        self.sent_at = time.perf_counter()
        self.busy = True
        run.sent_total += 1
        assert self.transport is not None
        self.transport.write(run.payloads[which])

    def data_received(self, data: bytes) -> None:
        self.parser.feed(data)
        self._take_responses()

    def eof_received(self) -> bool | None:
        self.parser.feed_eof()
        self._take_responses()
        return None

    def _take_responses(self) -> None:
        while not self.closing:
            try:
                response = self.parser.next_response()
            except ProtocolError:
                self.fail()
                return
            if response is None:
                return
            now = time.perf_counter()
            self.busy = False
            if not response.keep_alive:
                self.closing = True
                assert self.transport is not None
                self.transport.close()
            self.run.response_read(self, response.status, now - self.origin, now)

    def fail(self) -> None:
        """Count the request in flight as failed and drop the connection (it is replaced)."""
        if self.busy:
            self.busy = False
            self.run.request_failed()
        self.closing = True
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.busy:
            self.busy = False
            self.run.request_failed()
        self.closing = True
        self.run.connection_gone(self)


class _LoadRun:
    def __init__(self, spec: LoadSpec) -> None:
        self.spec = spec
        authority = f"{spec.host}:{spec.port}"
        self.payloads = [request.encode(authority) for request in spec.requests]
        self.expects_body = [request.expects_body for request in spec.requests]
        self.closed_loop = spec.rate is None
        self.result = LoadResult(
            duration=spec.duration, connections=spec.connections, target_rate=spec.rate
        )
        self.window_start = math.inf
        self.window_end = math.inf
        self.stopping = False
        self.connections: set[_Connection] = set()
        self.idle: list[_Connection] = []
        self.backlog: deque[float] = deque()
        self.drained = asyncio.Event()
        self.tasks: set[asyncio.Task[None]] = set()
        self.sent_total = 0
        self.faults: list[str] = []
        self.interval = math.inf
        self.schedule_start = math.inf
        self.issued = 0

    # Events from connections.

    def connection_ready(self, connection: _Connection) -> None:
        self.connections.add(connection)
        self.dispatch(connection)

    def response_read(
        self, connection: _Connection, status: int, latency: float, now: float
    ) -> None:
        result = self.result
        result.responses_total += 1
        if self.window_start <= now < self.window_end:
            result.status_counts[status] = result.status_counts.get(status, 0) + 1
            if 200 <= status < 300:
                result.ok += 1
                result.latencies.append(latency)
            else:
                result.other_status += 1
        if not connection.closing:
            self.dispatch(connection)
        elif self.stopping:
            self.check_drained()

    def request_failed(self) -> None:
        self.result.errors_total += 1
        if self.window_start <= time.perf_counter() < self.window_end:
            self.result.errors += 1

    def connection_gone(self, connection: _Connection) -> None:
        self.connections.discard(connection)
        if connection in self.idle:
            self.idle.remove(connection)
        if self.stopping:
            self.check_drained()
        else:
            self.spawn(self.reconnect(connection.next_request))

    # Sending.

    def dispatch(self, connection: _Connection) -> None:
        if self.stopping:
            self.check_drained()
        elif self.closed_loop:
            connection.send(time.perf_counter())
        elif self.backlog:
            connection.send(self.backlog.popleft())
        else:
            self.idle.append(connection)
            if self.schedule_start != math.inf:
                self.issue_due(time.perf_counter())

    def check_drained(self) -> None:
        if not any(connection.busy for connection in self.connections):
            self.drained.set()

    # Tasks.

    def spawn(self, coroutine: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def connect(self, index: int) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_connection(
            lambda: _Connection(self, index), self.spec.host, self.spec.port
        )

    async def reconnect(self, index: int) -> None:
        while not self.stopping:
            try:
                await self.connect(index)
                return
            except OSError:
                self.request_failed()
                await asyncio.sleep(0.05)

    def issue_due(self, now: float) -> None:
        """Make every request due by `now` (open loop), on a free connection or in the backlog."""
        interval = self.interval
        due_at = self.schedule_start + self.issued * interval
        while due_at <= now:
            if self.idle:
                self.idle.pop().send(due_at)
            else:
                self.backlog.append(due_at)
            self.issued += 1
            due_at = self.schedule_start + self.issued * interval

    async def ticker(self) -> None:
        """Keep the schedule while no response arrives to do it (responses catch it up too)."""
        self.schedule_start = time.perf_counter()
        while not self.stopping:
            self.issue_due(time.perf_counter())
            next_due = self.schedule_start + self.issued * self.interval
            # Event-loop timers have millisecond resolution; shorter sleeps would spin the CPU.
            await asyncio.sleep(max(TICK_SECONDS, next_due - time.perf_counter()))

    async def watchdog(self) -> None:
        """Fail requests that have waited longer than the timeout for their response."""
        period = min(0.25, self.spec.timeout / 4)
        while True:
            await asyncio.sleep(period)
            limit = time.perf_counter() - self.spec.timeout
            for connection in list(self.connections):
                if connection.busy and connection.sent_at < limit:
                    connection.fail()

    async def run(self) -> LoadResult:
        loop = asyncio.get_running_loop()
        previous_handler = loop.get_exception_handler()
        loop.set_exception_handler(self.client_fault)
        try:
            result = await self.measure()
        finally:
            loop.set_exception_handler(previous_handler)
        if self.faults:
            # A bug in the generator must never pass for a slow server.
            raise LoadGeneratorFault(f"load generator fault: {self.faults[0]}")
        return result

    def client_fault(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.faults.append(repr(context.get("exception") or context.get("message")))

    async def measure(self) -> LoadResult:
        spec = self.spec
        outcomes = await asyncio.gather(
            *(self.connect(index) for index in range(spec.connections)), return_exceptions=True
        )
        failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        if failures:
            self.stopping = True
            for connection in list(self.connections):
                if connection.transport is not None:
                    connection.transport.abort()
            raise ConnectionError(
                f"cannot open {len(failures)} of {spec.connections} connections to "
                f"{spec.host}:{spec.port}: {failures[0]!r}"
            )
        began = time.perf_counter()
        self.window_start = began + spec.warmup
        self.window_end = self.window_start + spec.duration
        if not self.closed_loop:
            assert spec.rate is not None
            self.interval = 1.0 / spec.rate
            self.spawn(self.ticker())
        self.spawn(self.watchdog())

        await asyncio.sleep(max(0.0, self.window_start - time.perf_counter()))
        cpu_before = time.process_time()
        machine_before = machine_busy_seconds()
        observed_before = {pid: _process_cpu_seconds(pid) for pid in spec.observe_pids}
        await asyncio.sleep(max(0.0, self.window_end - time.perf_counter()))
        cpu_after = time.process_time()
        machine_after = machine_busy_seconds()
        observed_after = {pid: _process_cpu_seconds(pid) for pid in spec.observe_pids}

        self.stopping = True
        self.result.unsent = len(self.backlog)
        self.backlog.clear()
        self.check_drained()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.drained.wait(), timeout=spec.timeout)
        for task in list(self.tasks):
            task.cancel()
        for connection in list(self.connections):
            if connection.transport is not None:
                connection.transport.close()

        result = self.result
        result.sent_total = self.sent_total
        result.client_cpu_seconds = cpu_after - cpu_before
        result.machine_cpu_seconds = machine_after - machine_before
        result.observed_cpu_seconds = {
            pid: observed_after[pid] - observed_before[pid] for pid in spec.observe_pids
        }
        return result


def _process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc; 0 where unavailable."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    # After "pid (comm)": field 3 is state, so utime (14) and stime (15) sit at 11 and 12.
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
