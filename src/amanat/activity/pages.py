"""A person's own devices and sessions page, and the "this was not me" link of a new-device
alert (`amanat.identity.not_me`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from amanat.activity.context import RequestCtx
from amanat.activity.service import TEMPLATE_DIR
from amanat.identity import devices, not_me
from amanat.web.auth import (
    SignedIn,
    render_anonymous_form,
    require_anonymous_csrf,
)
from amanat.web.deps import DbSession
from amanat.web.templating import add_template_dir, render

add_template_dir(TEMPLATE_DIR)

router = APIRouter(include_in_schema=False)


def _page(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    return render(request, f"activity/{template}", context, status_code=status)


@router.get("/account/devices")
async def devices_page(
    request: Request, auth: SignedIn, context: RequestCtx, db: DbSession
) -> Response:
    return _page(
        request,
        "devices.html",
        {
            "auth": auth,
            "sessions": await devices.my_sessions(db, auth.user, auth.session.id),
            "devices": await devices.my_devices(db, auth.user, context),
        },
    )


@router.get("/not-me/{token}")
async def not_me_form(request: Request, token: str, db: DbSession) -> Response:
    # Showing the page changes nothing (a mail scanner may fetch it); the button acts.
    user = await not_me.not_me_details(db, token)
    return render_anonymous_form(request, "activity/not_me.html", {"username": user.username})


@router.post("/not-me/{token}")
async def not_me_submit(
    request: Request,
    token: str,
    context: RequestCtx,
    db: DbSession,
    csrf_token: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    require_anonymous_csrf(request, csrf_token)
    await not_me.disown_sign_in(db, token=token, context=context)
    # The same link now sets a new password (and is used up by it).
    return RedirectResponse(f"/reset/{token}", status_code=303)
