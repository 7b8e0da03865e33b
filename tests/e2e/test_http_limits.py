"""The head of a request is bounded in size and in time on a real `amanat serve`: a huge header
is refused with 431, a trickled head is cut off, parser refusals are problem+json, and memory
stays flat while clients push unfinished giant headers."""

from __future__ import annotations

import json
import select
import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import pytest

from tests.support.processes import amanat_env
from tests.support.server import RunningServer, running_server

pytestmark = pytest.mark.e2e

HEAD_TIMEOUT = 1.5


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("limits")
    env = amanat_env(root / "amanat-data", AMANAT_HEADER_TIMEOUT_SECONDS=str(HEAD_TIMEOUT))
    with running_server(root, env) as running:
        yield running


@contextmanager
def tls_socket(server: RunningServer) -> Iterator[ssl.SSLSocket]:
    context = ssl.create_default_context(cafile=str(server.cert))
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    with context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
        yield sock


def read_answer(sock: ssl.SSLSocket) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionError, ssl.SSLError, TimeoutError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def problem_of(answer: bytes) -> tuple[int, dict[str, object], str]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body), head.decode("latin-1").lower()


def still_serving(server: RunningServer) -> bool:
    with httpx.Client(verify=ssl.create_default_context(cafile=str(server.cert))) as http:
        return http.get(f"{server.url}/healthz").status_code == 200


def resident_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.asvs("V4.2.1", "V15.1.3")
def test_a_huge_header_is_refused_with_431_and_the_server_carries_on(
    server: RunningServer,
) -> None:
    with tls_socket(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: ")
        # The server may close before it has read all of it: that is the point.
        with suppress(ConnectionError, ssl.SSLError):
            sock.sendall(b"A" * (2 * 1024 * 1024))
        answer = read_answer(sock)
    status, problem, head = problem_of(answer)
    assert status == 431
    assert problem["code"] == "headers_too_large"
    assert "content-type: application/problem+json" in head
    assert still_serving(server)


@pytest.mark.asvs("V4.2.1")
def test_a_head_trickled_slowly_is_cut_off(server: RunningServer) -> None:
    started = time.monotonic()
    with tls_socket(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        answer = b""
        for number in range(40):
            # Whatever the server says (its 408, or the close) ends the trickle.
            readable, _, _ = select.select([sock], [], [], 0.25)
            if readable or sock.pending():
                answer = read_answer(sock)
                break
            with suppress(ConnectionError, ssl.SSLError):
                sock.sendall(f"X-Trickle-{number}: 1\r\n".encode())
        closed_after = time.monotonic() - started
    assert closed_after < HEAD_TIMEOUT + 3  # not the ten seconds the trickle would take
    if answer:
        status, problem, _ = problem_of(answer)
        assert status == 408
        assert problem["code"] == "request_timeout"


def test_a_client_that_connects_and_says_nothing_is_let_go(server: RunningServer) -> None:
    started = time.monotonic()
    with tls_socket(server) as sock:
        read_answer(sock)
    assert time.monotonic() - started < HEAD_TIMEOUT + 3


@pytest.mark.asvs("V4.2.1")
def test_control_characters_in_a_header_get_problem_json(server: RunningServer) -> None:
    with tls_socket(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Bad: a\x01b\r\n\r\n")
        answer = read_answer(sock)
    status, problem, head = problem_of(answer)
    assert status == 400
    assert problem["code"] == "malformed_request"
    assert "content-type: application/problem+json" in head


@pytest.mark.asvs("V15.1.3")
def test_memory_stays_flat_while_clients_push_unfinished_giant_headers(
    server: RunningServer,
) -> None:
    still_serving(server)
    before = resident_kib(server.process.pid)
    for _ in range(4):
        with tls_socket(server) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: ")
            with suppress(ConnectionError, ssl.SSLError):
                for _ in range(64):  # up to 64 MB, never finished
                    sock.sendall(b"B" * (1024 * 1024))
            read_answer(sock)
    after = resident_kib(server.process.pid)
    assert after - before < 32 * 1024, f"the server grew by {after - before} KiB"
    assert still_serving(server)
