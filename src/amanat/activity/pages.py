"""A person's own devices and sessions page, and the "this was not me" link of a new-device
alert (`amanat.identity.not_me`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from amanat.activity.context import RequestCtx, drop_device_cookie
from amanat.activity.devices import DeviceView, forget_device
from amanat.activity.service import TEMPLATE_DIR
from amanat.core.errors import NotFound
from amanat.identity import devices, not_me
from amanat.web.auth import (
    SignedIn,
    render_anonymous_form,
    require_anonymous_csrf,
)
from amanat.web.confirm import confirmation_page, require_confirmed
from amanat.web.deps import DbSession
from amanat.web.flash import redirect_with
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


def _device_words(device: DeviceView) -> str:
    return f"{device.browser} on {device.os} ({device.device_type})"


async def _my_device(db: DbSession, auth: SignedIn, context: RequestCtx, device_id: str) -> Any:
    for device in await devices.my_devices(db, auth.user, context):
        if device.id == device_id:
            return device
    raise NotFound("No such device.", code="device_not_found")


@router.get("/account/devices/{device_id}/forget")
async def forget_device_confirm(
    request: Request, device_id: str, auth: SignedIn, context: RequestCtx, db: DbSession
) -> Response:
    device = await _my_device(db, auth, context, device_id)
    consequences = [
        "Remove this device from your list.",
        "Its next sign-in counts as a new device: you will get a mail about it.",
    ]
    if device.current:
        consequences.append(
            "This is the browser you are using now: it forgets its device cookie too."
        )
    return confirmation_page(
        request,
        auth,
        title="Forget this device",
        subject=_device_words(device),
        consequences=consequences,
        action=f"/account/devices/{device.id}/forget",
        button="Forget this device",
        back="/account/devices",
    )


@router.post("/account/devices/{device_id}/forget")
async def forget_device_submit(
    device_id: str,
    auth: SignedIn,
    context: RequestCtx,
    db: DbSession,
    confirmed: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    await _my_device(db, auth, context, device_id)  # another's is "not found", confirmed or not
    require_confirmed(confirmed)
    forgotten = await forget_device(
        db,
        actor=auth.actor.audit(),
        user_id=auth.user.id,
        device_id=device_id,
        context=context,
    )
    response = redirect_with("/account/devices", f"Device forgotten: {_device_words(forgotten)}.")
    if forgotten.current:
        drop_device_cookie(response)
    return response


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
