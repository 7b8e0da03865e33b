"""The start page, and the site's icon at the address browsers ask for by themselves."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, RedirectResponse

from amanat.web.error_pages import signed_in_viewer
from amanat.web.templating import render

router = APIRouter(include_in_schema=False)

FAVICON = "/static/favicon.svg"


@router.get("/", response_class=HTMLResponse)
async def start_page(request: Request) -> HTMLResponse:
    # The start page needs no sign-in, but a signed-in person sees their navigation on it.
    auth = await signed_in_viewer(request.scope)
    return render(request, "home.html", {"auth": auth})


@router.get("/favicon.ico")
async def favicon() -> RedirectResponse:
    """Browsers ask for /favicon.ico whatever the page names: send them to the SVG icon."""
    return RedirectResponse(FAVICON, status_code=301)
