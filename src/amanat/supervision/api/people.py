"""The admin's JSON doors to personal data: search, the CSV download, a correction, and the
purpose-bound reveal of one field (`amanat.supervision.directory`, `corrections`, `reveals`).

A searched value travels in a POST body, never in the URL (ASVS V14.2.1); a revealed value is
sent once with `Cache-Control: no-store` (V14.3.2).
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import APIRouter
from starlette.responses import Response

from amanat.core.clock import utcnow
from amanat.identity.api_tokens import ApiScope
from amanat.identity.schemas import UserOut
from amanat.people.export import CSV_MEDIA_TYPE, csv_document
from amanat.people.schemas import PersonSearchIn
from amanat.supervision import corrections, directory, reveals
from amanat.supervision.directory import MaskedUser
from amanat.supervision.schemas import (
    PersonalDataCorrectionIn,
    PersonalDataCorrectionOut,
    RevealIn,
    RevealOut,
)
from amanat.web.auth import (
    Keyring,
    SignedIn,
    UserSupervisor,
    require_scope,
)
from amanat.web.deps import CurrentSettings, DbSession

router = APIRouter(tags=["people"])
privacy = APIRouter(prefix="/api/v1", tags=["privacy"])


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


@router.patch(
    "/api/v1/users/{user_id}/personal-data",
    response_model=PersonalDataCorrectionOut,
    summary="Correct a user's full name, phone, CNIC or address (the person is told)",
    dependencies=[require_scope(ApiScope.USERS_WRITE)],
)
async def correct_personal_data(
    user_id: str,
    body: PersonalDataCorrectionIn,
    auth: UserSupervisor,
    db: DbSession,
    ring: Keyring,
    settings: CurrentSettings,
) -> PersonalDataCorrectionOut:
    done = await corrections.correct_personal_data(
        db, ring, settings, auth.actor, user_id, changes=body.changes(), reason=body.reason
    )
    masked = await directory.masked_user(db, ring, done.user)
    return PersonalDataCorrectionOut(changed=list(done.changed), user=user_out(masked))


@privacy.post(
    "/people/{user_id}/reveal",
    response_model=RevealOut,
    summary="Reveal one field of a user's personal data for a policy purpose (audited)",
)
async def reveal(
    user_id: str,
    body: RevealIn,
    auth: SignedIn,
    response: Response,
    db: DbSession,
    ring: Keyring,
    settings: CurrentSettings,
) -> RevealOut:
    revealed = await reveals.reveal_user_field(
        db,
        ring,
        settings,
        auth.actor,
        user_id,
        field=body.field,
        purpose=body.purpose,
        reason=body.reason,
    )
    response.headers.update(NO_STORE)
    return RevealOut.of(revealed)
