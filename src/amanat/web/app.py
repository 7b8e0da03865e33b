"""The application factory: one FastAPI app, its middleware, error handlers and routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.logging import configure_logging
from amanat.core.runtime import open_runtime
from amanat.core.settings import Settings, load_settings
from amanat.web import apidocs, health, home
from amanat.web.frontdoor import FrontDoor
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
        try:
            yield
        finally:
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
    app.include_router(health.router)
    app.include_router(home.router)
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
