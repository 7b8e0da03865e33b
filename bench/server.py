"""Uvicorn in a child process on a free loopback port, serving an ASGI app given by import string.

The parent binds the listening socket (port 0, so no port can be taken in a race) and hands it to
the child, which serves it with one worker and the options `amanat serve` uses, minus TLS. The
port accepts connections only once the app's lifespan startup has finished, so "accepts" means
"ready".

The child starts in a scratch directory (also its TMPDIR, removed when the server stops) with
every `AMANAT_*` variable removed from its environment, so neither the operator's settings nor an
`amanat.toml` leak into a measurement; pass what a figure needs through `env`.

Run as `python -m bench.server --app module:factory --fd N` (the parent does this).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

REPO_ROOT = Path(__file__).resolve().parent.parent

Lifespan = Literal["auto", "on", "off"]


class ServerFailed(RuntimeError):
    """The server process exited or did not start accepting connections in time."""


@dataclass(frozen=True)
class RunningServer:
    app: str
    host: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def split_cores() -> tuple[frozenset[int] | None, frozenset[int] | None]:
    """CPUs for (server, load generator): one core each when there are two, else no pinning."""
    if not hasattr(os, "sched_getaffinity"):
        return None, None
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        return None, None
    return frozenset({available[0]}), frozenset({available[1]})


@contextmanager
def running_server(
    app: str,
    *,
    factory: bool = True,
    env: Mapping[str, str] | None = None,
    cpus: frozenset[int] | None = None,
    lifespan: Lifespan = "on",
    host: str = "127.0.0.1",
    startup_timeout: float = 60.0,
    log_file: Path | None = None,
) -> Iterator[RunningServer]:
    """Serve `app` ("module:attribute", a factory unless `factory=False`) until the block ends.

    `cpus` pins the server process (all its threads) to those CPUs. The app's stdout (its log
    lines) goes to `log_file`, or nowhere.
    """
    if not host.startswith("127.") and host != "::1":
        raise ValueError("benchmarks send load to loopback only")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    scratch = Path(tempfile.mkdtemp(prefix="amanat-bench-server-"))
    process: subprocess.Popen[bytes] | None = None
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, 0))
        port = int(listener.getsockname()[1])
        command = [
            sys.executable,
            "-m",
            "bench.server",
            "--app",
            app,
            "--fd",
            str(listener.fileno()),
            "--lifespan",
            lifespan,
            "--host",
            host,
            "--port",
            str(port),
        ]
        if not factory:
            command.append("--no-factory")
        if cpus:
            command += ["--cpus", ",".join(str(cpu) for cpu in sorted(cpus))]
        stderr_path = scratch / "stderr.log"
        with (
            open(stderr_path, "wb") as stderr,
            open(log_file or os.devnull, "ab") as stdout,
        ):
            process = subprocess.Popen(
                command,
                pass_fds=(listener.fileno(),),
                cwd=scratch,
                env=_child_environment(env, scratch),
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
            )
        listener.close()
        _wait_until_accepting(process, host, port, startup_timeout, stderr_path)
        yield RunningServer(app=app, host=host, port=port, process=process)
    finally:
        listener.close()
        if process is not None:
            _stop(process)
        shutil.rmtree(scratch, ignore_errors=True)


def _child_environment(extra: Mapping[str, str] | None, scratch: Path) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AMANAT_")}
    # Uvicorn re-raises SIGTERM after its graceful shutdown, so the child's atexit hooks never
    # run; its temporary files go to the scratch directory, which the parent removes.
    environment["TMPDIR"] = str(scratch)
    python_path = [str(REPO_ROOT), str(REPO_ROOT / "src")]
    if environment.get("PYTHONPATH"):
        python_path.append(environment["PYTHONPATH"])
    environment["PYTHONPATH"] = os.pathsep.join(python_path)
    environment.update(extra or {})
    return environment


def _wait_until_accepting(
    process: subprocess.Popen[bytes], host: str, port: int, timeout: float, stderr_path: Path
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise ServerFailed(
                f"server exited with {process.returncode}: {_tail(stderr_path)}".rstrip()
            )
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise ServerFailed(f"server did not accept within {timeout:.0f}s: {_tail(stderr_path)}")
        time.sleep(0.05)


def _tail(path: Path, size: int = 2000) -> str:
    try:
        return path.read_bytes()[-size:].decode("utf-8", "replace")
    except OSError:
        return ""


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main(argv: Sequence[str] | None = None) -> None:
    """The child: serve the inherited socket with uvicorn, one worker, no access log."""
    parser = argparse.ArgumentParser(prog="python -m bench.server")
    parser.add_argument("--app", required=True)
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--no-factory", dest="factory", action="store_false")
    parser.add_argument("--lifespan", choices=["auto", "on", "off"], default="on")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cpus", default="")
    args = parser.parse_args(argv)
    if args.cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(cpu) for cpu in args.cpus.split(",")})

    import uvicorn

    sock = socket.socket(fileno=args.fd)
    config = uvicorn.Config(
        args.app,
        factory=args.factory,
        host=args.host,
        port=args.port,
        workers=1,
        lifespan=args.lifespan,
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=False,
    )
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
