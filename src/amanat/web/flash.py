"""What happened, told once on the page a form's redirect leads to (POST/redirect/GET).

Every form POST answers with a 303 redirect, so a reload repeats nothing; the sentence saying
what the action did travels in a short-lived cookie that the next rendered page shows and
drops. The `__Host-` prefix means only this origin, over HTTPS, can set it; the sentence is
escaped like any other text when shown. Messages hold no personal data beyond what the page
itself shows masked (e.g. "Invitation sent to h***@gmail.com").
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Literal

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

FLASH_COOKIE = "__Host-amanat_flash"
FLASH_MAX_CHARS = 500
FlashKind = Literal["notice", "error"]


def _encode(kind: FlashKind, message: str) -> str:
    payload = json.dumps({"k": kind, "m": message[:FLASH_MAX_CHARS]}, ensure_ascii=False)
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def _decode(value: str) -> tuple[FlashKind, str] | None:
    if not value or len(value) > 4 * FLASH_MAX_CHARS:
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        data = json.loads(raw.decode())
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    kind, message = data.get("k"), data.get("m")
    if kind not in ("notice", "error") or not isinstance(message, str) or not message:
        return None
    return kind, message[:FLASH_MAX_CHARS]


def set_flash(response: Response, message: str, kind: FlashKind = "notice") -> None:
    response.set_cookie(
        FLASH_COOKIE,
        _encode(kind, message),
        max_age=120,
        path="/",
        secure=True,
        httponly=True,
        samesite="lax",
    )


def redirect_with(url: str, message: str, kind: FlashKind = "notice") -> RedirectResponse:
    """A 303 to `url` whose page will say `message` once."""
    response = RedirectResponse(url, status_code=303)
    set_flash(response, message, kind)
    return response


def pending_flash(request: Request) -> tuple[FlashKind, str] | None:
    """The message the previous action left for this page, if any."""
    return _decode(request.cookies.get(FLASH_COOKIE, ""))


def drop_flash(response: Response) -> None:
    response.delete_cookie(FLASH_COOKIE, path="/", secure=True, httponly=True, samesite="lax")
