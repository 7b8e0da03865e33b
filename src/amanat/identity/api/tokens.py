"""A person's own API tokens over JSON: list, create (the token is shown once), revoke."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from amanat.identity import api_tokens
from amanat.identity.schemas import ApiTokenCreatedOut, ApiTokenCreateIn, ApiTokenOut, api_token_out
from amanat.web.auth import SignedIn
from amanat.web.deps import DbSession

router = APIRouter()


@router.get(
    "/api/v1/me/api-tokens",
    response_model=list[ApiTokenOut],
    tags=["identity"],
    summary="My API tokens (never the secrets)",
)
async def list_my_api_tokens(auth: SignedIn, db: DbSession) -> list[ApiTokenOut]:
    return [api_token_out(row) for row in await api_tokens.list_api_tokens(db, auth.actor)]


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
    return ApiTokenCreatedOut(
        **api_token_out(api_tokens.summarize(row)).model_dump(), token=plaintext
    )


@router.delete(
    "/api/v1/me/api-tokens/{token_id}",
    status_code=204,
    tags=["identity"],
    summary="Revoke one of my API tokens",
)
async def revoke_my_api_token(token_id: str, auth: SignedIn, db: DbSession) -> Response:
    await api_tokens.revoke_api_token(db, auth.actor, token_id)
    return Response(status_code=204)
