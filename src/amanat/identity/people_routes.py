"""Admin doors to the people of one's own account: search (JSON and HTML), a CSV download, and
corrections of a user's personal data (JSON and HTML, `amanat.supervision.corrections`).

A searched value travels in a POST body, never in the URL (ASVS V14.2.1: no personal data in
URLs, where access logs, proxies and browser history would keep it). Results and downloads are
masked users of the actor's own account (`amanat.supervision.directory`); each search and each
download is audited with counts and field names, never values.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from amanat.core.clock import utcnow
from amanat.core.errors import AmanatError, InvalidInput
from amanat.identity.api_tokens import ApiScope
from amanat.identity.schemas import Strict, UserOut
from amanat.people.export import CSV_MEDIA_TYPE, csv_document
from amanat.people.forms import PersonForm
from amanat.people.reveal import FIELD_LABELS
from amanat.people.schemas import CNIC_INPUT_MAX, AddressIn, PersonSearchIn
from amanat.people.validation import EMAIL_MAX, FULL_NAME_MAX, PHONE_INPUT_MAX
from amanat.supervision import corrections, directory
from amanat.supervision.corrections import REASON_LABELS, CorrectionReason
from amanat.supervision.directory import MaskedUser
from amanat.web.auth import Authenticated, Keyring, UserSupervisor, require_scope
from amanat.web.deps import CurrentSettings, DbSession
from amanat.web.templating import environment, render

router = APIRouter(tags=["people"])
# The correction form is also part of the user page, which does not pass it this list.
environment.globals["correction_reasons"] = REASON_LABELS

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


# --- Corrections of personal data by an admin ---


class PersonalDataCorrectionIn(Strict):
    """The fields given are corrected (null clears phone, CNIC or address); email is not here:
    it changes only by the person's own confirmed request."""

    full_name: str | None = Field(default=None, min_length=1, max_length=FULL_NAME_MAX)
    phone: str | None = Field(default=None, max_length=PHONE_INPUT_MAX)
    cnic: str | None = Field(
        default=None, max_length=CNIC_INPUT_MAX, description="#####-#######-# or 13 digits."
    )
    address: AddressIn | None = None
    reason: CorrectionReason | None = Field(default=None, description="Why, as a code.")

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True, exclude={"reason"})


class PersonalDataCorrectionOut(BaseModel):
    changed: list[str] = Field(description="The fields whose value changed (no values).")
    user: UserOut


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


async def _correction_page(
    request: Request,
    auth: Authenticated,
    db: DbSession,
    ring: Keyring,
    user_id: str,
    *,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    user = await corrections.correctable_user(db, auth.actor, user_id)
    response = render(
        request,
        "identity/admin_personal_data.html",
        {
            "auth": auth,
            "user": await directory.masked_user(db, ring, user),
            "error": error,
            "notice": notice,
        },
        status_code=status,
    )
    response.headers.update(NO_STORE)
    return response


@router.get("/admin/users/{user_id}/personal-data", include_in_schema=False)
async def correction_form(
    request: Request, user_id: str, auth: UserSupervisor, db: DbSession, ring: Keyring
) -> Response:
    return await _correction_page(request, auth, db, ring, user_id)


@router.post("/admin/users/{user_id}/personal-data", include_in_schema=False)
async def correction_submit(
    request: Request,
    user_id: str,
    auth: UserSupervisor,
    db: DbSession,
    ring: Keyring,
    settings: CurrentSettings,
    person: PersonForm,
    full_name: Annotated[str, Form(max_length=FULL_NAME_MAX)] = "",
    reason: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    # Outside the actor's reach, or without the right: the error page, never the form.
    await corrections.correctable_user(db, auth.actor, user_id)
    # The admin never sees the current values: a blank field keeps what is there.
    changes = {**({"full_name": full_name} if full_name.strip() else {}), **person.given()}
    try:
        done = await corrections.correct_personal_data(
            db,
            ring,
            settings,
            auth.actor,
            user_id,
            changes=changes,
            reason=corrections.correction_reason(reason),
        )
    except AmanatError as exc:
        if exc.status >= 500:
            raise
        return await _correction_page(
            request, auth, db, ring, user_id, error=exc.message, status=exc.status
        )
    notice = "Nothing changed: the values given are the ones on record."
    if done.changed:
        labels = ", ".join(FIELD_LABELS[field] for field in done.changed)
        notice = f"Corrected: {labels}. The person was told by email which fields changed."
    return await _correction_page(request, auth, db, ring, user_id, notice=notice)
