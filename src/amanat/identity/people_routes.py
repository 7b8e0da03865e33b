"""Admin doors to the people of one's own account: search (JSON and HTML) and a CSV download.

A searched value travels in a POST body, never in the URL (ASVS V14.2.1: no personal data in
URLs, where access logs, proxies and browser history would keep it). Results and downloads are
masked users of the actor's own account (`amanat.identity.directory`); each search and each
download is audited with counts and field names, never values.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from amanat.core.clock import utcnow
from amanat.core.errors import InvalidInput
from amanat.identity import directory
from amanat.identity.api_tokens import ApiScope
from amanat.identity.auth import Keyring, UserSupervisor, require_scope
from amanat.identity.directory import MaskedUser
from amanat.identity.schemas import UserOut
from amanat.people.export import CSV_MEDIA_TYPE, csv_document
from amanat.people.schemas import PersonSearchIn
from amanat.people.validation import EMAIL_MAX, FULL_NAME_MAX
from amanat.web.deps import DbSession
from amanat.web.templating import render

router = APIRouter(tags=["people"])

NO_STORE = {"Cache-Control": "no-store"}
CSV_HEADER = (
    "username",
    "status",
    "role",
    "last_sign_in",
    "name",
    "email",
    "phone",
    "cnic",
    "city",
)
CRITERION_LABELS = {
    "email": "Email address",
    "phone": "Phone number",
    "cnic": "CNIC",
    "name": "Word of the name",
}


def user_out(user: MaskedUser) -> UserOut:
    return UserOut(
        id=user.id,
        account_id=user.account_id,
        username=user.username,
        role=user.role,
        status=user.status,
        full_name=user.masked_name,
        email=user.masked_email,
        mfa_enabled=user.mfa_enabled,
        last_signin_at=user.last_signin_at,
        created_at=user.created_at,
        phone=user.masked_phone,
        cnic=user.masked_cnic,
        city=user.masked_city,
    )


@router.post(
    "/api/v1/people/search",
    response_model=list[UserOut],
    summary="Find users of my account by exact email, phone, CNIC or name word (masked)",
    dependencies=[require_scope(ApiScope.USERS_READ)],
)
async def search(
    body: PersonSearchIn, auth: UserSupervisor, db: DbSession, ring: Keyring
) -> list[UserOut]:
    criterion = directory.search_criterion(body.criterion())
    found = await directory.search_users(
        db, ring, auth.actor, criterion=criterion, value=getattr(body, criterion)
    )
    return [user_out(user) for user in found]


def _csv_rows(found: Iterable[MaskedUser]) -> Iterable[tuple[str | None, ...]]:
    for user in found:
        signed_in = user.last_signin_at
        yield (
            user.username,
            user.status,
            user.role,
            signed_in.strftime("%Y-%m-%dT%H:%M:%SZ") if signed_in else None,
            user.masked_name,
            user.masked_email,
            user.masked_phone,
            user.masked_cnic,
            user.masked_city,
        )


@router.get(
    "/api/v1/people/export.csv",
    response_class=Response,
    summary="Download the users of my account as CSV (masked)",
    responses={200: {"content": {"text/csv": {}}}},
    dependencies=[require_scope(ApiScope.USERS_READ)],
)
async def export_csv(auth: UserSupervisor, db: DbSession, ring: Keyring) -> Response:
    found = await directory.export_users(db, ring, auth.actor)
    # Our own name, never one made from input: nothing to inject into the header.
    filename = f"amanat-users-{utcnow():%Y%m%d}.csv"
    return Response(
        csv_document(CSV_HEADER, _csv_rows(found)),
        media_type=CSV_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"', **NO_STORE},
    )


# --- HTML ---


def _search_page(request: Request, context: dict[str, Any], status: int = 200) -> Response:
    response = render(
        request,
        "identity/admin_people_search.html",
        {"criteria": CRITERION_LABELS, **context},
        status_code=status,
    )
    response.headers.update(NO_STORE)
    return response


@router.get("/admin/people/search", include_in_schema=False)
async def search_form(request: Request, auth: UserSupervisor) -> Response:
    return _search_page(request, {"auth": auth, "criterion": "email"})


@router.post("/admin/people/search", include_in_schema=False)
async def search_submit(
    request: Request,
    auth: UserSupervisor,
    db: DbSession,
    ring: Keyring,
    criterion: Annotated[str, Form(max_length=16)],
    value: Annotated[str, Form(max_length=max(EMAIL_MAX, FULL_NAME_MAX))] = "",
) -> Response:
    shown = criterion if criterion in CRITERION_LABELS else "email"
    context: dict[str, Any] = {"auth": auth, "criterion": shown, "value": value}
    try:
        found = await directory.search_users(
            db, ring, auth.actor, criterion=directory.search_criterion(criterion), value=value
        )
    except InvalidInput as exc:
        return _search_page(request, {**context, "error": exc.message}, exc.status)
    return _search_page(request, {**context, "found": found, "searched": True})
