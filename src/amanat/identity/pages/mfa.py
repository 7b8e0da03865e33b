"""The person's second factor pages: set it up, replace the authenticator app, make new
recovery codes and see, download or print them once.

Replacing and regenerating are disruptive: each has a page saying what will happen that also
asks for the password and a current code (re-authentication). New recovery codes are kept
sealed on this browser's session row (`identity.shown_once`) and shown by the page the
redirect leads to, once; that page's download button takes them for a file, once.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from amanat.activity.context import RequestCtx
from amanat.core.errors import AmanatError, InvalidInput
from amanat.identity import mfa_enrolment, mfa_upkeep
from amanat.identity.return_to import take_return
from amanat.identity.shown_once import keep_to_show, take_to_show
from amanat.web.auth import Authenticated, EnrollingUser, Keyring, SignedIn
from amanat.web.confirm import require_confirmed
from amanat.web.deps import CurrentSettings, DbSession
from amanat.web.flash import redirect_with
from amanat.web.problems import with_refusal_headers
from amanat.web.templating import render

router = APIRouter(include_in_schema=False)

CODES_PAGE = "/account/mfa/recovery-codes"
_DOWNLOAD = "recovery_codes_download"
DOWNLOAD_NAME = "amanat-recovery-codes.txt"

_REAUTH = {
    "regenerate": {
        "title": "Make new recovery codes",
        "consequences": [
            "Make ten new recovery codes and show them to you once.",
            "Every recovery code you have now stops working at once, used or not.",
            "Mail you that new codes were made.",
        ],
        "action": "/account/mfa/recovery-codes/new",
        "button": "Make new codes",
    },
    "replace": {
        "title": "Replace the authenticator app",
        "consequences": [
            "Show you a new QR code and key for the new app.",
            "The app you use now keeps working until the new app's first code is confirmed;"
            " from then on only the new app's codes work.",
            "Sign out your other sessions, and mail you that the app was replaced.",
        ],
        "action": "/account/mfa/replace",
        "button": "Continue",
    },
}


def _page(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    return render(request, f"identity/{template}", context, status_code=status)


def _reauth_page(
    request: Request, auth: Authenticated, which: str, status: int = 200, **extra: Any
) -> Response:
    return _page(
        request, "mfa_reauth.html", {"auth": auth, **_REAUTH[which], **extra}, status=status
    )


def _refused(request: Request, auth: Authenticated, which: str, exc: AmanatError) -> Response:
    if exc.status >= 500 or exc.status < 400:
        raise exc
    field = exc.extra.get("field") if exc.extra else None
    errors = {str(field): exc.message} if field else {}
    page = _reauth_page(
        request, auth, which, exc.status, error=None if errors else exc.message, errors=errors
    )
    return with_refusal_headers(page, exc)


@router.get("/account/mfa")
async def mfa_form(request: Request, auth: EnrollingUser, db: DbSession, ring: Keyring) -> Response:
    if auth.user.mfa_enabled_at is not None:
        return RedirectResponse("/account", status_code=303)
    enrolment = await mfa_enrolment.pending_totp_enrolment(ring, auth.user)
    if enrolment is None:
        enrolment = await mfa_enrolment.start_totp_enrolment(db, ring, user=auth.user)
    return _page(request, "mfa_setup.html", {"auth": auth, "enrolment": enrolment})


@router.post("/account/mfa")
async def mfa_submit(
    request: Request,
    auth: EnrollingUser,
    db: DbSession,
    ring: Keyring,
    code: Annotated[str, Form(max_length=16)],
    context: RequestCtx,
) -> Response:
    if auth.user.mfa_enabled_at is not None:
        return redirect_with("/account", "Your second factor is already on.")
    try:
        codes = await mfa_enrolment.confirm_totp_enrolment(
            db, ring, user=auth.user, code=code, session_id=auth.session.id, context=context
        )
    except InvalidInput as exc:
        enrolment = await mfa_enrolment.pending_totp_enrolment(ring, auth.user)
        return _page(
            request,
            "mfa_setup.html",
            {"auth": auth, "enrolment": enrolment, "error": exc.message},
            422,
        )
    keep_to_show(ring, auth.session, mfa_upkeep.NEW_RECOVERY_CODES, {"codes": codes})
    return redirect_with(CODES_PAGE, "Your second factor is on.")


@router.get(CODES_PAGE)
async def recovery_codes_page(
    request: Request, auth: EnrollingUser, db: DbSession, ring: Keyring
) -> Response:
    shown = take_to_show(ring, auth.session, mfa_upkeep.NEW_RECOVERY_CODES)
    codes = [str(code) for code in shown.values["codes"]] if shown else []
    if codes:
        # This page's download button may take them once more, as a file.
        keep_to_show(ring, auth.session, _DOWNLOAD, {"codes": codes})
    return _page(
        request,
        "recovery_codes.html",
        {
            "auth": auth,
            "codes": codes,
            "codes_left": await mfa_upkeep.recovery_codes_left(db, auth.user),
            # After a set-up forced at sign-in, on to the page first asked for.
            "continue_to": take_return(auth.session) if codes else "/account",
        },
    )


@router.post(CODES_PAGE + "/download")
async def recovery_codes_download(auth: EnrollingUser, ring: Keyring) -> Response:
    kept = take_to_show(ring, auth.session, _DOWNLOAD)
    if kept is None:
        return redirect_with(
            CODES_PAGE,
            "Recovery codes are shown and downloaded once only. Make new ones if you lost them.",
            "error",
        )
    lines = [
        f"Amanat recovery codes for {auth.user.username}",
        "Each code works once, in place of a code from your authenticator app.",
        "",
        *[str(code) for code in kept.values["codes"]],
        "",
    ]
    return Response(
        "\n".join(lines),
        media_type="text/plain; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{DOWNLOAD_NAME}"'},
    )


@router.get("/account/mfa/recovery-codes/new")
async def regenerate_form(request: Request, auth: SignedIn) -> Response:
    if auth.user.mfa_enabled_at is None:
        return redirect_with("/account/mfa", "Set up a second factor first.", "error")
    return _reauth_page(request, auth, "regenerate")


@router.post("/account/mfa/recovery-codes/new")
async def regenerate_submit(
    request: Request,
    auth: SignedIn,
    db: DbSession,
    ring: Keyring,
    settings: CurrentSettings,
    context: RequestCtx,
    current_password: Annotated[str, Form(max_length=1024)] = "",
    code: Annotated[str, Form(max_length=64)] = "",
    confirmed: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    require_confirmed(confirmed)
    try:
        codes = await mfa_upkeep.regenerate_recovery_codes(
            db,
            ring,
            settings,
            user=auth.user,
            password=current_password,
            code=code,
            session_id=auth.session.id,
            context=context,
        )
    except AmanatError as exc:
        return _refused(request, auth, "regenerate", exc)
    keep_to_show(ring, auth.session, mfa_upkeep.NEW_RECOVERY_CODES, {"codes": codes})
    return redirect_with(CODES_PAGE, "New recovery codes made. The old ones no longer work.")


@router.get("/account/mfa/replace")
async def replace_form(request: Request, auth: SignedIn) -> Response:
    if auth.user.mfa_enabled_at is None:
        return redirect_with("/account/mfa", "Set up a second factor first.", "error")
    return _reauth_page(request, auth, "replace")


@router.post("/account/mfa/replace")
async def replace_submit(
    request: Request,
    auth: SignedIn,
    db: DbSession,
    ring: Keyring,
    settings: CurrentSettings,
    context: RequestCtx,
    current_password: Annotated[str, Form(max_length=1024)] = "",
    code: Annotated[str, Form(max_length=64)] = "",
    confirmed: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    require_confirmed(confirmed)
    try:
        await mfa_upkeep.start_replacement(
            db,
            ring,
            settings,
            user=auth.user,
            row=auth.session,
            password=current_password,
            code=code,
            context=context,
        )
    except AmanatError as exc:
        return _refused(request, auth, "replace", exc)
    return redirect_with(
        "/account/mfa/replace/new", "Now add the new app: scan the code or type the key."
    )


def _replace_page(
    request: Request, auth: Authenticated, ring: Keyring, status: int = 200, **extra: Any
) -> Response:
    enrolment = mfa_upkeep.pending_replacement(ring, auth.user, auth.session)
    if enrolment is None:
        return redirect_with(
            "/account/mfa/replace", "The replacement expired. Start again.", "error"
        )
    return _page(
        request,
        "mfa_setup.html",
        {"auth": auth, "enrolment": enrolment, "replacing": True, **extra},
        status,
    )


@router.get("/account/mfa/replace/new")
async def replace_new_form(request: Request, auth: SignedIn, ring: Keyring) -> Response:
    return _replace_page(request, auth, ring)


@router.post("/account/mfa/replace/new")
async def replace_new_submit(
    request: Request,
    auth: SignedIn,
    db: DbSession,
    ring: Keyring,
    context: RequestCtx,
    code: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    try:
        await mfa_upkeep.confirm_replacement(
            db, ring, user=auth.user, row=auth.session, code=code, context=context
        )
    except InvalidInput as exc:
        if exc.code == "mfa_replacement_missing":
            return redirect_with("/account/mfa/replace", exc.message, "error")
        return _replace_page(request, auth, ring, 422, error=exc.message)
    return redirect_with(
        "/account", "Authenticator app replaced. The old app's codes no longer work."
    )
