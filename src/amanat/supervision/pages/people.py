"""The admin's pages for personal data: search, a correction, and the purpose-bound reveal of
one field. A searched or revealed value never travels in a URL (ASVS V14.2.1)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from amanat.core.errors import AmanatError, InvalidInput
from amanat.people.forms import PersonForm
from amanat.people.reveal import (
    FIELD_LABELS,
    PURPOSE_LABELS,
    REASON_MAX,
    REASON_MIN,
    REVEALABLE_FIELDS,
    Purpose,
)
from amanat.people.schemas import EMAIL_BOUND, FULL_NAME_BOUND
from amanat.supervision import corrections, directory, reveals
from amanat.supervision.corrections import REASON_LABELS
from amanat.web.auth import (
    Authenticated,
    Keyring,
    SignedIn,
    UserSupervisor,
)
from amanat.web.deps import CurrentSettings, DbSession
from amanat.web.problems import refusal_for_form
from amanat.web.templating import environment, render

router = APIRouter(include_in_schema=False)
# The correction form is also part of the user page, which does not pass it this list.
environment.globals["correction_reasons"] = REASON_LABELS

NO_STORE = {"Cache-Control": "no-store"}


def _page(
    request: Request,
    template: str,
    context: dict[str, Any],
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    response = render(request, f"supervision/{template}", context, status_code=status)
    response.headers.update(headers or {})
    return response


CRITERION_LABELS = {
    "email": "Email address",
    "phone": "Phone number",
    "cnic": "CNIC",
    "name": "Word of the name",
}


def _search_page(request: Request, context: dict[str, Any], status: int = 200) -> Response:
    response = render(
        request,
        "supervision/admin_people_search.html",
        {"criteria": CRITERION_LABELS, **context},
        status_code=status,
    )
    response.headers.update(NO_STORE)
    return response


@router.get("/admin/people/search")
async def search_form(request: Request, auth: UserSupervisor) -> Response:
    return _search_page(request, {"auth": auth, "criterion": "email"})


@router.post("/admin/people/search")
async def search_submit(
    request: Request,
    auth: UserSupervisor,
    db: DbSession,
    ring: Keyring,
    criterion: Annotated[str, Form(max_length=16)],
    value: Annotated[str, Form(max_length=max(EMAIL_BOUND, FULL_NAME_BOUND))] = "",
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
        "supervision/admin_personal_data.html",
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


@router.get("/admin/users/{user_id}/personal-data")
async def correction_form(
    request: Request, user_id: str, auth: UserSupervisor, db: DbSession, ring: Keyring
) -> Response:
    return await _correction_page(request, auth, db, ring, user_id)


@router.post("/admin/users/{user_id}/personal-data")
async def correction_submit(
    request: Request,
    user_id: str,
    auth: UserSupervisor,
    db: DbSession,
    ring: Keyring,
    settings: CurrentSettings,
    person: PersonForm,
    full_name: Annotated[str, Form(max_length=FULL_NAME_BOUND)] = "",
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


def _reveal_context(auth: Authenticated, user_id: str) -> dict[str, Any]:
    allowed = reveals.purposes_for(auth.actor)
    return {
        "auth": auth,
        "user_id": user_id,
        "fields": [(name, FIELD_LABELS[name]) for name in REVEALABLE_FIELDS],
        "purposes": [(purpose.value, PURPOSE_LABELS[purpose]) for purpose in allowed],
        "reason_min": REASON_MIN,
        "reason_max": REASON_MAX,
    }


@router.get("/admin/reveal/{user_id}")
async def reveal_form(request: Request, user_id: str, auth: SignedIn, db: DbSession) -> Response:
    await reveals.check_reveal_subject(db, auth.actor, user_id)
    return _page(request, "reveal.html", _reveal_context(auth, user_id), headers=NO_STORE)


@router.post("/admin/reveal/{user_id}")
async def reveal_submit(
    request: Request,
    user_id: str,
    auth: SignedIn,
    db: DbSession,
    ring: Keyring,
    settings: CurrentSettings,
    field: Annotated[str, Form(max_length=16)],
    purpose: Annotated[str, Form(max_length=32)],
    reason: Annotated[str, Form(max_length=REASON_MAX * 4)],
) -> Response:
    context = _reveal_context(auth, user_id)
    try:
        try:
            chosen = Purpose(purpose)
        except ValueError:
            raise InvalidInput(
                "Choose a purpose from the privacy policy.", code="unknown_purpose"
            ) from None
        revealed = await reveals.reveal_user_field(
            db, ring, settings, auth.actor, user_id, field=field, purpose=chosen, reason=reason
        )
    except AmanatError as exc:
        # A refusal is audited and kept (the service marked it so): render, don't raise.
        refused = refusal_for_form(exc)
        return _page(
            request,
            "reveal.html",
            {**context, "error": refused.message},
            refused.status,
            headers={**NO_STORE, **refused.headers},  # a 429's Retry-After
        )
    return _page(
        request,
        "reveal.html",
        {
            **context,
            "revealed": revealed,
            "field_label": FIELD_LABELS[revealed.field],
            "purpose_label": PURPOSE_LABELS[revealed.purpose],
        },
        headers=NO_STORE,
    )
