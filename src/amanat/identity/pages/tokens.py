"""The person's API tokens page: list, create (the secret shown once, after the redirect),
revoke (after a confirmation page)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from amanat.core.errors import AmanatError, NotFound
from amanat.identity import api_tokens
from amanat.identity.api_tokens import (
    DEFAULT_VALID_DAYS,
    MAX_VALID_DAYS,
    MIN_VALID_DAYS,
    NAME_MAX_LENGTH,
    SCOPE_DESCRIPTIONS,
    ApiTokenSummary,
)
from amanat.identity.shown_once import keep_to_show, take_to_show
from amanat.web.auth import Keyring, SignedIn
from amanat.web.confirm import confirmation_page, require_confirmed
from amanat.web.deps import DbSession
from amanat.web.flash import redirect_with
from amanat.web.templating import render

router = APIRouter(include_in_schema=False)

NEW_TOKEN = "api_token"  # noqa: S105  (the kind of value kept, not a secret)


async def _tokens_page(
    request: Request,
    auth: SignedIn,
    db: DbSession,
    *,
    status: int = 200,
    **context: Any,
) -> Response:
    return render(
        request,
        "identity/api_tokens.html",
        {
            "auth": auth,
            "tokens": await api_tokens.list_api_tokens(db, auth.actor),
            "scopes": [
                (scope.value, SCOPE_DESCRIPTIONS[scope])
                for scope in api_tokens.scopes_for_role(auth.user.role)
            ],
            "default_days": DEFAULT_VALID_DAYS,
            "min_days": MIN_VALID_DAYS,
            "max_days": MAX_VALID_DAYS,
            "name_max_length": NAME_MAX_LENGTH,
            **context,
        },
        status_code=status,
    )


@router.get("/account/api-tokens", include_in_schema=False)
async def api_tokens_page(
    request: Request, auth: SignedIn, db: DbSession, ring: Keyring
) -> Response:
    shown = take_to_show(ring, auth.session, NEW_TOKEN)
    if shown is None:
        return await _tokens_page(request, auth, db)
    tokens = await api_tokens.list_api_tokens(db, auth.actor)
    created = next((token for token in tokens if token.id == shown.values.get("id")), None)
    if created is None:  # revoked in another tab meanwhile: nothing left to show
        return await _tokens_page(request, auth, db)
    return await _tokens_page(
        request, auth, db, created=created, plaintext=str(shown.values["secret"])
    )


@router.post("/account/api-tokens", include_in_schema=False)
async def api_token_create_page(
    request: Request,
    auth: SignedIn,
    db: DbSession,
    ring: Keyring,
    name: Annotated[str, Form(max_length=1024)] = "",
    scopes: Annotated[list[str] | None, Form()] = None,
    valid_days: Annotated[str, Form(max_length=8)] = str(DEFAULT_VALID_DAYS),
) -> Response:
    # Out-of-range and non-numeric values alike get the service's own message.
    days = int(valid_days) if valid_days.isascii() and valid_days.isdecimal() else 0
    try:
        async with db.begin_nested():
            row, plaintext = await api_tokens.create_api_token(
                db, auth.actor, name=name, scopes=scopes or [], valid_days=days
            )
    except AmanatError as exc:
        if exc.status >= 500:
            raise
        return await _tokens_page(request, auth, db, status=exc.status, error=exc.message)
    # Shown once by the page the redirect leads to: sealed on this browser's session row,
    # never put in a URL or a cookie (ASVS V14.2.1).
    keep_to_show(ring, auth.session, NEW_TOKEN, {"id": row.id, "secret": plaintext})
    return redirect_with(
        "/account/api-tokens", f"Token “{row.name}” made. Copy it now: it is shown this once."
    )


async def _own_token(db: DbSession, auth: SignedIn, token_id: str) -> ApiTokenSummary:
    for token in await api_tokens.list_api_tokens(db, auth.actor):
        if token.id == token_id:
            return token
    raise NotFound("No such API token.", code="api_token_not_found")


@router.get("/account/api-tokens/{token_id}/revoke", include_in_schema=False)
async def api_token_revoke_confirm(
    request: Request, token_id: str, auth: SignedIn, db: DbSession
) -> Response:
    token = await _own_token(db, auth, token_id)
    return confirmation_page(
        request,
        auth,
        title="Revoke an API token",
        subject=f"the token “{token.name}” ({token.hint})",
        consequences=[
            "Refuse this token at once: every program using it stops working.",
            "It cannot be turned back on; make a new token if you need one again.",
        ],
        action=f"/account/api-tokens/{token.id}/revoke",
        button="Revoke token",
        back="/account/api-tokens",
    )


@router.post("/account/api-tokens/{token_id}/revoke", include_in_schema=False)
async def api_token_revoke_page(
    token_id: str,
    auth: SignedIn,
    db: DbSession,
    confirmed: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    await _own_token(db, auth, token_id)  # another's token is "not found", confirmed or not
    require_confirmed(confirmed)
    revoked = await api_tokens.revoke_api_token(db, auth.actor, token_id)
    return redirect_with("/account/api-tokens", f"Token “{revoked.name}” revoked.")
