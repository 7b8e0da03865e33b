"""ASGI app factories for `bench.server.running_server` (uvicorn imports them by name).

`bare_app` is the floor: a raw ASGI callable answering every request with the same bytes
`GET /healthz` returns. `full_app` is the real application as `amanat serve` builds it, with
JSON logging on (to the server's stdout), in a data directory of its own.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

HEALTHZ_BODY = b'{"status":"ok"}'
HEALTHZ_HEADERS = [
    (b"content-length", str(len(HEALTHZ_BODY)).encode()),
    (b"content-type", b"application/json"),
]


async def _bare(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEALTHZ_HEADERS})
    await send({"type": "http.response.body", "body": HEALTHZ_BODY})


def bare_app() -> ASGIApp:
    """The bare ASGI floor: no routing, no middleware, one fixed JSON answer."""
    return _bare


def full_app() -> Any:
    """The real app (create_app) in production mode, on a fresh embedded data directory."""
    from amanat.core.logging import configure_logging
    from amanat.core.settings import Settings
    from amanat.web.app import create_app

    data_dir = Path(tempfile.mkdtemp(prefix="amanat-bench-data-"))
    atexit.register(shutil.rmtree, data_dir, True)
    configure_logging("info")
    settings = Settings(
        environment="production",
        data_dir=data_dir,
        database_url=None,
        master_key=None,
    )
    return create_app(settings)


DATA_DIR_ENV = "AMANAT_DATA_DIR"


def prepared_app() -> Any:
    """The real app (create_app) on a data directory a figure prepared beforehand.

    Settings come from the `AMANAT_*` variables the figure passes to the server (`running_server`
    strips the operator's own), and `AMANAT_DATA_DIR` must name the prepared directory.
    """
    import os

    from amanat.core.logging import configure_logging
    from amanat.core.settings import load_settings
    from amanat.web.app import create_app

    if not os.environ.get(DATA_DIR_ENV):
        raise RuntimeError(f"{DATA_DIR_ENV} must name the prepared data directory")
    settings = load_settings(database_url=None, master_key=None)
    configure_logging(settings.log_level)
    return create_app(settings)
