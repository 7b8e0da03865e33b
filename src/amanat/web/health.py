"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from pydantic import SecretStr
from starlette.responses import JSONResponse, Response

from amanat.core.errors import Forbidden
from amanat.web.deps import app_state
from amanat.web.proxy import is_loopback

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz() -> JSONResponse:
    """The process is up and answering (no dependency is consulted)."""
    return JSONResponse({"status": "ok"})


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """Ready for traffic: the database answers."""
    database = app_state(request).database
    if database is None or not await database.ping():
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ready", "database": "ok"})


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus text format, for loopback scrapers or holders of the metrics token."""
    state = app_state(request)
    if not _may_scrape(request, state.settings.metrics_token):
        raise Forbidden("Metrics are served to loopback or with the metrics token.")
    return Response(state.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


def _may_scrape(request: Request, token: SecretStr | None) -> bool:
    if is_loopback(request.scope["state"].get("client_address")):
        return True
    if token is None:
        return False
    supplied = request.headers.get("authorization", "")
    expected = f"Bearer {token.get_secret_value()}"
    return hmac.compare_digest(supplied.encode(), expected.encode())
