"""A server-rendered list of the JSON API, built from the OpenAPI document (no third-party JS)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse

from amanat.web.error_pages import signed_in_viewer
from amanat.web.templating import render

router = APIRouter(include_in_schema=False)

_METHODS = ("get", "post", "put", "patch", "delete")


@router.get("/api/docs", response_class=HTMLResponse)
async def api_docs(request: Request) -> HTMLResponse:
    spec: dict[str, Any] = request.app.openapi()
    operations = [
        {
            "method": method.upper(),
            "path": path,
            "summary": operation.get("summary", ""),
            "description": operation.get("description", ""),
        }
        for path, item in sorted(spec.get("paths", {}).items())
        for method, operation in item.items()
        if method in _METHODS
    ]
    auth = await signed_in_viewer(request.scope)  # the navigation, for a signed-in reader
    return render(request, "api_docs.html", {"operations": operations, "spec": spec, "auth": auth})
