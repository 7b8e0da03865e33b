"""A real `amanat serve` process on a free loopback port, for end-to-end tests."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.leak_guard import SERVER_LOG, see_lines
from tests.support.postgres import free_port
from tests.support.processes import AMANAT


@dataclass
class RunningServer:
    process: subprocess.Popen[str]
    port: int
    data_dir: Path
    output: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def cert(self) -> Path:
        return self.data_dir / "tls" / "dev-cert.pem"


@contextmanager
def running_server(
    cwd: Path, env: dict[str, str], *, extra_args: list[str] | None = None, timeout: float = 45
) -> Iterator[RunningServer]:
    port = free_port()
    process = subprocess.Popen(
        [AMANAT, "serve", "--port", str(port), *(extra_args or [])],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    server = RunningServer(process=process, port=port, data_dir=Path(env["AMANAT_DATA_DIR"]))
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                rest = process.stdout.read() if process.stdout else ""
                raise RuntimeError(f"amanat serve exited {process.returncode}: {rest[-2000:]}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        else:
            raise RuntimeError("amanat serve did not start listening in time")
        yield server
    finally:
        process.terminate()
        try:
            out, _ = process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            out, _ = process.communicate()
        server.output.extend(out.splitlines())
        see_lines(SERVER_LOG, server.output)
