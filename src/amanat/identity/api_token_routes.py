"""API tokens, managed by their owner in a signed-in session: JSON under /api/v1/me/api-tokens and
the page /account/api-tokens. A token itself can never reach these routes (`token_not_allowed`)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from pydantic import BaseModel, Field
from starlette.responses import RedirectResponse, Response

from amanat.core.errors import AmanatError
from amanat.identity import api_tokens
from amanat.identity.api_tokens import (
    DEFAULT_VALID_DAYS,
    MAX_VALID_DAYS,
    MIN_VALID_DAYS,
    NAME_MAX_LENGTH,
    SCOPE_DESCRIPTIONS,
    ApiScope,
    ApiTokenSummary,
)
from amanat.identity.schemas import Strict
from amanat.web.auth import SignedIn
from amanat.web.deps import DbSession
from amanat.web.templating import add_template_dir, render

add_template_dir(Path(__file__).parent / "templates")

router = APIRouter()


class ApiTokenCreateIn(Strict):
    name: str = Field(min_length=1, max_length=NAME_MAX_LENGTH)
    scopes: list[ApiScope] = Field(min_length=1, max_length=len(ApiScope))
    valid_days: int = Field(
        default=DEFAULT_VALID_DAYS, ge=MIN_VALID_DAYS, le=MAX_VALID_DAYS, strict=True
    )


class ApiTokenOut(BaseModel):
    id: str
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    expired: bool


class ApiTokenCreatedOut(ApiTokenOut):
    token: str = Field(description="The token itself. Shown this once: store it now.")


def _out(summary: ApiTokenSummary) -> ApiTokenOut:
    return ApiTokenOut(
        id=summary.id,
        name=summary.name,
        prefix=summary.prefix,
        scopes=list(summary.scopes),
        created_at=summary.created_at,
        expires_at=summary.expires_at,
        last_used_at=summary.last_used_at,
        expired=summary.expired,
    )


@router.get(
    "/api/v1/me/api-tokens",
    response_model=list[ApiTokenOut],
    tags=["identity"],
    summary="My API tokens (never the secrets)",
)
async def list_my_api_tokens(auth: SignedIn, db: DbSession) -> list[ApiTokenOut]:
    return [_out(row) for row in await api_tokens.list_api_tokens(db, auth.actor)]


@router.post(
    "/api/v1/me/api-tokens",
    response_model=ApiTokenCreatedOut,
    status_code=201,
    tags=["identity"],
    summary="Make an API token; the response holds it, once",
)
async def create_my_api_token(
    body: ApiTokenCreateIn, auth: SignedIn, db: DbSession
) -> ApiTokenCreatedOut:
    row, plaintext = await api_tokens.create_api_token(
        db,
        auth.actor,
        name=body.name,
        scopes=[scope.value for scope in body.scopes],
        valid_days=body.valid_days,
    )
    return ApiTokenCreatedOut(**_out(api_tokens.summarize(row)).model_dump(), token=plaintext)


@router.delete(
    "/api/v1/me/api-tokens/{token_id}",
    status_code=204,
    tags=["identity"],
    summary="Revoke one of my API tokens",
)
async def revoke_my_api_token(token_id: str, auth: SignedIn, db: DbSession) -> Response:
    await api_tokens.revoke_api_token(db, auth.actor, token_id)
    return Response(status_code=204)


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
