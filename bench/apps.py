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

# Module level: FastAPI resolves the route's annotations in this module's globals.
from starlette.requests import Request
from starlette.responses import Response
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


RAW_ME_PATH = "/bench/raw-me"

_RAW_SESSION = (
    "SELECT s.expires_at, s.last_seen_at, u.id, u.username, u.role, u.status, u.person_id, "
    "a.status FROM user_session s JOIN app_user u ON u.id = s.user_id "
    "JOIN customer_account a ON a.id = u.account_id WHERE s.token_hash = ?"
)
_RAW_PERSON = "SELECT full_name, email FROM person WHERE id = ?"
_RAW_KEY = "SELECT master_version, wrapped FROM person_key WHERE person_id = ?"


def prepared_app_with_raw_me() -> Any:
    """`prepared_app` plus `GET /bench/raw-me`: the floor under `/api/v1/me` in this stack.

    The route answers what `/me` answers about the caller (the session found by its cookie's
    hash, the user and account checked as in use, the person's name and email decrypted with
    their own data key) through the same middleware and router, but with hand-written SQL on
    plain `sqlite3` connections: no SQLAlchemy, no dependencies, no response model. It exists
    only here, to show how much of `/me`'s cost the required work leaves once everything the
    application adds on top is gone. It skips what `/me` also does (idle-timeout touch, device
    sighting, MFA policy, CSRF token), so it is a floor, not a rival.
    """
    import sqlite3
    from datetime import UTC, datetime

    from fastapi.responses import JSONResponse

    from amanat.core.crypto.envelope import WrappedKey, decrypt_value, unwrap_data_key
    from amanat.identity.models import ACCOUNT_STATUSES_IN_USE
    from amanat.identity.tokens import token_digest
    from amanat.web.auth import SESSION_COOKIE

    app = prepared_app()
    state = app.state.amanat
    data_dir = state.settings.data_dir
    connections: dict[str, sqlite3.Connection] = {}

    def connection(name: str) -> sqlite3.Connection:
        if name not in connections:
            connections[name] = sqlite3.connect(data_dir / name, isolation_level=None)
        return connections[name]

    refused = Response(status_code=401)

    async def raw_me(request: Request) -> Response:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return refused
        found = connection("amanat.db").execute(_RAW_SESSION, (token_digest(token),)).fetchone()
        if found is None:
            return refused
        expires_at, _seen, user_id, username, role, status, person_id, account_status = found
        expires = datetime.fromisoformat(str(expires_at)).replace(tzinfo=UTC)
        in_use = account_status in ACCOUNT_STATUSES_IN_USE
        if status != "active" or not in_use or expires <= datetime.now(UTC):
            return refused
        person = connection("amanat.db").execute(_RAW_PERSON, (person_id,)).fetchone()
        key = connection("keys.db").execute(_RAW_KEY, (person_id,)).fetchone()
        data_key = unwrap_data_key(
            state.require_keyring(), WrappedKey(key[0], key[1]), subject=person_id
        )

        def field(column: str, blob: bytes) -> str:
            return decrypt_value(data_key, blob, table="person", column=column, row_id=person_id)

        return JSONResponse(
            {
                "id": user_id,
                "username": username,
                "role": role,
                "full_name": field("full_name", person[0]),
                "email": field("email", person[1]),
            }
        )

    app.add_api_route(RAW_ME_PATH, raw_me, methods=["GET"], include_in_schema=False)
    return app
