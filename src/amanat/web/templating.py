"""Jinja2 templates from files only (never built from input), autoescaped (ASVS V1.2.1, V1.3.7)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from amanat.web.flash import drop_flash, pending_flash
from amanat.web.localtime import install_time_filters

TEMPLATE_DIRS = [Path(__file__).parent / "templates"]

environment = Environment(
    loader=FileSystemLoader([str(path) for path in TEMPLATE_DIRS]),
    autoescape=select_autoescape(default=True, default_for_string=True),
    auto_reload=False,
    enable_async=False,
)
install_time_filters(environment)


def add_template_dir(path: Path) -> None:
    """Let a domain's `templates/` folder join the search path (called by the app factory)."""
    loader = environment.loader
    assert isinstance(loader, FileSystemLoader)
    if str(path) not in loader.searchpath:
        loader.searchpath.append(str(path))


def render(
    request: Request | None,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    nonce: str = "",
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    values = dict(context or {})
    flashed = None
    if request is not None:
        values.setdefault("request", request)
        nonce = request.scope.get("state", {}).get("csp_nonce", nonce)
        flashed = pending_flash(request)
        if flashed is not None:
            # The previous action's message, shown once: the response drops its cookie.
            kind, message = flashed
            values.setdefault(kind, message)
    values["csp_nonce"] = nonce
    html = environment.get_template(template).render(values)
    response = HTMLResponse(html, status_code=status_code, headers=headers)
    if flashed is not None:
        drop_flash(response)
    return response
