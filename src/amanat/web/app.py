"""The application factory: one FastAPI app, its middleware, error handlers and routers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from amanat.activity import api as activity_api
from amanat.activity import pages as activity_pages
from amanat.activity.retention import activity_retention_job
from amanat.audit.head_log import HEAD_LOG_CHECK_EVERY, HEAD_LOG_JOB, log_chain_head_if_due
from amanat.comms.transports import transport_from_settings
from amanat.comms.worker import PeriodicJob, run_worker
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.logging import configure_logging
from amanat.core.runtime import open_runtime
from amanat.core.settings import Settings, load_settings
from amanat.identity import api as identity_api
from amanat.identity import pages as identity_pages
from amanat.people import api as people_api
from amanat.people import pages as people_pages
from amanat.supervision import api as supervision_api
from amanat.supervision import pages as supervision_pages
from amanat.web import apidocs, health, home, privacy_policy
from amanat.web.frontdoor import FrontDoor
from amanat.web.openapi import install_openapi
from amanat.web.problems import install_error_handlers
from amanat.web.proxy import TrustedProxies
from amanat.web.state import AppState

STATIC_DIR = Path(__file__).parent / "static"


def create_app(
    settings: Settings,
    *,
    database: Database | None = None,
    keyring: MasterKeyring | None = None,
) -> FastAPI:
    """Build the app; with `database` given (tests), the lifespan opens nothing of its own."""
    state = AppState(settings=settings, database=database, keyring=keyring)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if state.database is not None:
            yield
            return
        runtime = await open_runtime(settings)
        state.database, state.keyring = runtime.database, runtime.keyring
        stop = asyncio.Event()
        worker: asyncio.Task[None] | None = None
        # One SQLite file takes one worker: with several server processes, run `amanat worker`.
        if settings.in_process_worker and (not settings.is_sqlite or settings.workers == 1):
            worker = asyncio.create_task(
                run_worker(
                    runtime.database,
                    runtime.keyring,
                    transport_from_settings(settings),
                    stop=stop,
                    jobs=[
                        activity_retention_job(settings),
                        PeriodicJob(HEAD_LOG_JOB, HEAD_LOG_CHECK_EVERY, log_chain_head_if_due),
                    ],
                )
            )
        try:
            yield
        finally:
            stop.set()
            if worker is not None:
                await worker
            await runtime.database.dispose()
            state.database = None

    app = FastAPI(
        title="Amanat",
        version="0.1.0",
        lifespan=lifespan,
        # FastAPI's own docs pages load third-party JavaScript; ours is served from /api/docs.
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json" if settings.environment == "development" else None,
    )
    app.state.amanat = state
    install_error_handlers(app)
    install_openapi(app)
    app.include_router(health.router)
    app.include_router(home.router)
    app.include_router(privacy_policy.router)
    # Each room's doors; no two routes overlap, so the order only groups them.
    for router in (
        identity_api.router,
        identity_pages.router,
        supervision_api.router,
        supervision_pages.router,
        people_api.router,
        people_pages.router,
        activity_api.router,
        activity_pages.router,
    ):
        app.include_router(router)
    if settings.environment == "development":
        app.include_router(apidocs.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(
        FrontDoor,
        max_body_bytes=settings.max_body_bytes,
        trusted_proxies=TrustedProxies(settings.trusted_proxies if settings.behind_proxy else []),
        metrics=state.metrics,
    )
    return app


def create_app_from_environment() -> FastAPI:
    """Uvicorn's factory entry point (`amanat serve` sets the environment for its workers)."""
    settings = load_settings()
    configure_logging(settings.log_level)
    return create_app(settings)
