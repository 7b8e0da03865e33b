"""The organisation settings page, for the customer account's owner and admins (the settings
themselves are identity's: `amanat.identity.account_settings`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from amanat.core.errors import AmanatError, InvalidInput
from amanat.identity import account_settings
from amanat.identity.account_settings import AccountSettings
from amanat.web.auth import SignedIn
from amanat.web.deps import CurrentSettings, DbSession
from amanat.web.flash import redirect_with
from amanat.web.templating import render

router = APIRouter(include_in_schema=False)

_SAID = {
    "name": "organisation name",
    "members_need_mfa": "second factor for members",
    "session_hours": "sign-in length",
}


def _page(
    request: Request,
    auth: SignedIn,
    current: AccountSettings,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    typed = values or {
        "name": current.name,
        "members_need_mfa": current.members_need_mfa,
        "session_hours": "" if current.session_hours is None else str(current.session_hours),
    }
    return render(
        request,
        "supervision/account_settings.html",
        {"auth": auth, "current": current, "values": typed, "errors": errors or {}},
        status_code=status,
    )


def _hours(text: str) -> int | None:
    cleaned = text.strip()
    if not cleaned:
        return None
    if not cleaned.isdigit():
        raise InvalidInput(
            "Give a whole number of hours, or leave it empty.",
            code="invalid_session_hours",
            field="session_hours",
        )
    return int(cleaned)


@router.get("/admin/settings")
async def settings_page(
    request: Request, auth: SignedIn, db: DbSession, settings: CurrentSettings
) -> Response:
    current = await account_settings.read_account_settings(db, auth.actor, settings)
    return _page(request, auth, current)


@router.post("/admin/settings")
async def save_settings_page(
    request: Request,
    auth: SignedIn,
    db: DbSession,
    settings: CurrentSettings,
    name: Annotated[str, Form(max_length=400)],
    session_hours: Annotated[str, Form(max_length=8)] = "",
    members_need_mfa: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    # An unticked box sends nothing: the absence is "no".
    need_mfa = members_need_mfa == "yes"
    try:
        async with db.begin_nested():
            _row, changed = await account_settings.change_account_settings(
                db,
                auth.actor,
                settings,
                name=name,
                members_need_mfa=need_mfa,
                session_hours=_hours(session_hours),
            )
    except AmanatError as exc:
        field = exc.extra.get("field")
        if exc.status >= 500 or not isinstance(field, str):
            raise
        current = await account_settings.read_account_settings(db, auth.actor, settings)
        typed = {"name": name, "members_need_mfa": need_mfa, "session_hours": session_hours}
        return _page(
            request, auth, current, values=typed, errors={field: exc.message}, status=exc.status
        )
    if not changed:
        return redirect_with("/admin/settings", "Nothing to save: the settings are unchanged.")
    said = ", ".join(_SAID[field] for field in changed)
    return redirect_with("/admin/settings", f"Settings saved: {said}.")
