"""The benchmark harness can be trusted: it counts what the server sent, keeps other figures,
renders every figure, and refuses names it does not know."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bench.__main__ import main
from bench.http1 import ProtocolError, Request, ResponseParser, fetch
from bench.loadgen import LoadSpec, run_load, run_load_here
from bench.registry import Benchmark, all_benchmarks
from bench.results import Disturbed, Measurement, load_results, record, render_markdown
from bench.server import running_server

REPO_ROOT = Path(__file__).resolve().parents[2]


class TinyServer:
    """An HTTP/1.1 keep-alive server on its own thread that counts every response it finishes.

    Answers rotate through the shapes a real server sends: Content-Length, chunked (written in
    pieces), 404, and `Connection: close`.
    """

    def __init__(self, *, delay: float = 0.0, varied: bool = True) -> None:
        self.delay = delay
        self.varied = varied
        self.answered = 0
        self.assigned = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TinyServer:
        self._thread.start()
        assert self._ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(self._serve())
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        await self._stop.wait()
        server.close()
        for task in self._handlers:
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if length:
                    await reader.readexactly(length)
                if self.delay:
                    await asyncio.sleep(self.delay)
                self.assigned += 1
                number = self.assigned
                close = await self._answer(writer, number)
                self.answered += 1
                if close:
                    return
        except asyncio.CancelledError:
            pass
        finally:
            writer.close()
            self._handlers.discard(task)

    async def _answer(self, writer: asyncio.StreamWriter, number: int) -> bool:
        if self.varied and number % 5 == 0:
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nhel")
            await writer.drain()
            await asyncio.sleep(0)
            writer.write(b"l\r\n1\r\no\r\n0\r\nX-Trailer: yes\r\n\r\n")
            await writer.drain()
            return False
        if self.varied and number % 7 == 0:
            writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found")
            await writer.drain()
            return False
        if self.varied and number % 11 == 0:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
            await writer.drain()
            return True
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel")
        await writer.drain()
        writer.write(b"lo")
        await writer.drain()
        return False


@pytest.fixture
def tiny_server() -> Iterator[TinyServer]:
    with TinyServer() as server:
        yield server


def _feed_bytewise(parser: ResponseParser, data: bytes) -> list[tuple[int, bytes]]:
    seen = []
    for index in range(len(data)):
        parser.feed(data[index : index + 1])
        while (response := parser.next_response()) is not None:
            seen.append((response.status, response.body))
    return seen


def test_parser_reads_length_chunked_and_interim_responses_fed_byte_by_byte() -> None:
    stream = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
        b"HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n"
        b"2;name=value\r\nde\r\n3\r\nfgh\r\n0\r\nTrailer: 1\r\n\r\n"
        b"HTTP/1.1 204 No Content\r\n\r\n"
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
    )
    assert _feed_bytewise(ResponseParser(), stream) == [
        (200, b"abc"),
        (201, b"defgh"),
        (204, b""),
        (404, b""),
    ]


def test_parser_knows_when_the_connection_ends() -> None:
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nto the end")
    assert parser.next_response() is None
    parser.feed_eof()
    response = parser.next_response()
    assert response is not None
    assert (response.body, response.keep_alive) == (b"to the end", False)

    head = ResponseParser(expects_body=False)
    head.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n")
    assert head.next_response() is not None

    cut = ResponseParser()
    cut.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc")
    cut.feed_eof()
    with pytest.raises(ProtocolError):
        cut.next_response()


def test_requests_are_encoded_with_host_length_and_credentials() -> None:
    request = Request("POST", "/api/v1/sign-in", body=b'{"a":1}').with_bearer("t0k")
    wire = request.with_cookies({"__Host-session": "s"}).encode("127.0.0.1:8000")
    head, body = wire.split(b"\r\n\r\n")
    assert head.split(b"\r\n") == [
        b"POST /api/v1/sign-in HTTP/1.1",
        b"Host: 127.0.0.1:8000",
        b"Authorization: Bearer t0k",
        b"Cookie: __Host-session=s",
        b"Content-Length: 7",
    ]
    assert body == b'{"a":1}'


def test_load_generator_reads_exactly_what_the_server_sent(tiny_server: TinyServer) -> None:
    result = run_load_here(
        LoadSpec("127.0.0.1", tiny_server.port, connections=8, duration=0.8, warmup=0.2)
    )
    assert result.errors_total == 0
    assert result.responses_total == tiny_server.answered == result.sent_total
    assert result.ok > 100
    assert sum(result.status_counts.values()) == result.ok + result.other_status
    assert set(result.status_counts) == {200, 404}
    # Every 7th answer is a 404 unless it is a 5th (chunked 200): 4/35 of them.
    assert result.other_status / (result.ok + result.other_status) == pytest.approx(
        4 / 35, abs=0.02
    )
    assert len(result.latencies) == result.ok
    assert result.requests_per_second == pytest.approx(result.ok / 0.8)


def test_closed_loop_rate_matches_what_the_server_can_do() -> None:
    # 4 connections, 20 ms per answer: at most 200 answers per second.
    with TinyServer(delay=0.02, varied=False) as server:
        result = run_load_here(
            LoadSpec("127.0.0.1", server.port, connections=4, duration=1.0, warmup=0.1)
        )
    assert 150 < result.requests_per_second <= 205
    assert result.percentile(0.5) == pytest.approx(0.02, abs=0.015)


def test_open_loop_sends_at_the_target_rate(tiny_server: TinyServer) -> None:
    result = run_load_here(
        LoadSpec("127.0.0.1", tiny_server.port, connections=4, duration=1.0, warmup=0.1, rate=300)
    )
    assert result.unsent == 0
    assert result.ok + result.other_status == pytest.approx(300, abs=15)
    assert result.summary()["target_rate_per_s"] == 300


def test_timeouts_count_as_errors_not_answers() -> None:
    with TinyServer(delay=2.0, varied=False) as server:
        result = run_load_here(
            LoadSpec("127.0.0.1", server.port, connections=2, duration=0.6, warmup=0.0, timeout=0.2)
        )
    assert result.ok == 0
    assert result.errors >= 2


def test_load_runs_in_its_own_process_against_a_real_uvicorn() -> None:
    with running_server("bench.apps:bare_app") as server:
        answer = fetch(server.host, server.port, Request("GET", "/healthz"))
        assert (answer.status, answer.body) == (200, b'{"status":"ok"}')
        result = run_load(
            LoadSpec(server.host, server.port, connections=4, duration=0.5, warmup=0.1)
        )
        process = server.process
    assert process.poll() is not None
    assert result.ok > 100
    assert result.errors_total == 0
    assert result.client_cpu_seconds > 0


def _measurement(name: str, value: float) -> Measurement:
    return Measurement(name, value, "req/s", {"rounds": 3}, method=f"How {name} is measured.")


def test_recording_a_figure_keeps_the_others(tmp_path: Path) -> None:
    first = datetime(2025, 1, 1, tzinfo=UTC)
    record([_measurement("alpha", 1.0), _measurement("beta", 2.0)], tmp_path, now=first)
    record([_measurement("beta", 3.0), _measurement("gamma", 4.0)], tmp_path, machine="box")

    results = load_results(tmp_path)
    assert set(results) == {"alpha", "beta", "gamma"}
    assert results["alpha"]["value"] == 1.0
    assert results["alpha"]["date"] == "2025-01-01T00:00:00Z"
    assert results["beta"]["value"] == 3.0
    assert results["beta"]["machine"] == "box"
    assert results["gamma"]["details"] == {"rounds": 3}
    assert json.loads((tmp_path / "results.json").read_text()) == results


def test_results_page_shows_every_figure(tmp_path: Path) -> None:
    record([_measurement(name, 1.5) for name in ("alpha", "beta", "gamma")], tmp_path)
    page = (tmp_path / "RESULTS.md").read_text()
    assert page == render_markdown(load_results(tmp_path))
    for name in ("alpha", "beta", "gamma"):
        assert f"| `{name}` | 1.50 | req/s |" in page
        assert f"### `{name}`\n\nHow {name} is measured." in page


def test_every_registered_benchmark_says_how_it_measures() -> None:
    benchmarks = all_benchmarks()
    assert {"noop_stack_ratio", "argon2id_verifies_per_s_core"} <= set(benchmarks)
    for benchmark in benchmarks.values():
        assert len(benchmark.method) > 80, benchmark.name


def test_an_unknown_name_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["no_such_figure", "--results-dir", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert "no_such_figure" in captured.err
    assert not (tmp_path / "results.json").exists()


def test_the_command_line_exits_2_on_an_unknown_name(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "no_such_figure", "--results-dir", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert len(completed.stderr.splitlines()) == 1


def test_a_server_that_is_not_there_is_an_error_not_a_zero() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConnectionError, match="cannot open 2 of 2 connections"):
        run_load_here(LoadSpec("127.0.0.1", port, connections=2, duration=0.1))


def test_a_disturbed_benchmark_is_not_recorded_and_the_others_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def calm() -> list[Measurement]:
        return [Measurement("calm_figure", 2.0, "req/s")]

    def noisy() -> list[Measurement]:
        raise Disturbed("other work took 1.00 of a core")

    fakes = {
        "calm": Benchmark("calm", calm, "Measured calmly.", None),
        "noisy": Benchmark("noisy", noisy, "Measured noisily.", "≥ 1"),
    }
    monkeypatch.setattr("bench.__main__.all_benchmarks", lambda: fakes)
    monkeypatch.setattr("bench.registry.busy_cores", lambda: 0.0)

    assert main(["--results-dir", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {
        "name": "calm_figure",
        "value": 2.0,
        "unit": "req/s",
        "background_busy_cores": 0.0,
    }
    assert "noisy not recorded" in captured.err
    results = load_results(tmp_path)
    assert set(results) == {"calm_figure"}
    assert results["calm_figure"]["method"] == "Measured calmly."
