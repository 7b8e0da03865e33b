"""The person's API tokens page: list, create (shown once), revoke."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from amanat.core.errors import AmanatError
from amanat.identity import api_tokens
from amanat.identity.api_tokens import (
    DEFAULT_VALID_DAYS,
    MAX_VALID_DAYS,
    MIN_VALID_DAYS,
    NAME_MAX_LENGTH,
    SCOPE_DESCRIPTIONS,
)
from amanat.web.auth import SignedIn
from amanat.web.deps import DbSession
from amanat.web.templating import render

router = APIRouter(include_in_schema=False)


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
async def api_tokens_page(request: Request, auth: SignedIn, db: DbSession) -> Response:
    return await _tokens_page(request, auth, db)


@router.post("/account/api-tokens", include_in_schema=False)
async def api_token_create_page(
    request: Request,
    auth: SignedIn,
    db: DbSession,
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
    # Shown in this response only, never put in a URL or a redirect (ASVS V14.2.1).
    return await _tokens_page(request, auth, db, created=row, plaintext=plaintext)


@router.post("/account/api-tokens/{token_id}/revoke", include_in_schema=False)
async def api_token_revoke_page(token_id: str, auth: SignedIn, db: DbSession) -> Response:
    await api_tokens.revoke_api_token(db, auth.actor, token_id)
    return RedirectResponse("/account/api-tokens", status_code=303)
