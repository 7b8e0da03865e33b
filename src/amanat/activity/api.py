"""A person's own devices over JSON, and ending their other sessions."""

from __future__ import annotations

from fastapi import APIRouter, Response

from amanat.activity.context import RequestCtx, drop_device_cookie
from amanat.activity.devices import forget_device
from amanat.activity.schemas import DeviceOut
from amanat.identity import devices
from amanat.identity.schemas import CountOut
from amanat.web.auth import (
    SignedIn,
)
from amanat.web.deps import DbSession

router = APIRouter(prefix="/api/v1", tags=["activity"])


@router.get("/me/devices", response_model=list[DeviceOut], summary="My devices")
async def my_devices(auth: SignedIn, context: RequestCtx, db: DbSession) -> list[DeviceOut]:
    return [DeviceOut.of(view) for view in await devices.my_devices(db, auth.user, context)]


@router.post(
    "/me/sessions/end-others",
    response_model=CountOut,
    summary="End every session of mine but this one",
)
async def end_my_other_sessions(auth: SignedIn, context: RequestCtx, db: DbSession) -> CountOut:
    ended = await devices.end_my_other_sessions(db, auth.user, auth.session.id, context)
    return CountOut(count=ended)


@router.delete(
    "/me/devices/{device_id}",
    status_code=204,
    summary="Forget one of my devices (this browser's own drops its device cookie)",
)
async def forget_my_device(
    device_id: str, auth: SignedIn, context: RequestCtx, db: DbSession
) -> Response:
    forgotten = await forget_device(
        db, actor=auth.actor.audit(), user_id=auth.user.id, device_id=device_id, context=context
    )
    response = Response(status_code=204)
    if forgotten.current:
        drop_device_cookie(response)
    return response
