"""The admin's pages for personal data: search, a correction, and the purpose-bound reveal of
one field. A searched or revealed value never travels in a URL (ASVS V14.2.1)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import Response

from amanat.access.roles import Permission
from amanat.audit.event_words import role_words, status_words
from amanat.core.errors import AmanatError, InvalidInput
from amanat.people.forms import PersonForm, field_errors
from amanat.people.reveal import (
    DISPLAY_FOR,
    FIELD_LABELS,
    PURPOSE_LABELS,
    REASON_MAX,
    REASON_MIN,
    REVEALABLE_FIELDS,
    Purpose,
    open_for_display,
    seal_for_display,
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
from amanat.web.flash import redirect_with
from amanat.web.problems import refusal_for_form
from amanat.web.templating import environment, render

router = APIRouter(include_in_schema=False)
# The correction form is also part of the user page, which does not pass it this list.
environment.globals["correction_reasons"] = REASON_LABELS

NO_STORE = {"Cache-Control": "no-store"}
# The value just revealed, sealed (`people.reveal.seal_for_display`), on its way to the one page
# that shows it: only this origin over HTTPS, never sent cross-site, gone within minutes.
REVEAL_COOKIE = "__Host-amanat_revealed"


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
        {
            "criteria": CRITERION_LABELS,
            # Roles and statuses in words on the results, never their codes.
            "role_words": role_words,
            "status_words": status_words,
            **context,
        },
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
    refusal: AmanatError | None = None,
) -> Response:
    user = await corrections.correctable_user(db, auth.actor, user_id)
    context: dict[str, Any] = {"auth": auth, "user": await directory.masked_user(db, ring, user)}
    if refusal is not None:
        # The form again with the refusal, also beside its field; what was typed is not shown
        # again (another person's data), so the admin types the corrected value anew.
        context.update(error=refusal.message, errors=field_errors(refusal))
    response = render(
        request,
        "supervision/admin_personal_data.html",
        context,
        status_code=refusal.status if refusal is not None else 200,
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
    back: Annotated[str, Form(max_length=16)] = "",
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
        return await _correction_page(
            request, auth, db, ring, user_id, refusal=refusal_for_form(exc)
        )
    notice = "Nothing changed: the values given are the ones on record."
    if done.changed:
        labels = ", ".join(FIELD_LABELS[field] for field in done.changed)
        notice = f"Corrected: {labels}. The person was told by email which fields changed."
    # Back to the page the form was on: the user page, or the correction page.
    target = (
        f"/admin/users/{user_id}" if back == "user" else f"/admin/users/{user_id}/personal-data"
    )
    return redirect_with(target, notice)


def _revealable_fields(auth: Authenticated) -> list[tuple[str, str]]:
    """The fields this viewer may reveal (by the rule the service enforces), for the links on
    the user page and search results: none for a role that may reveal nothing."""
    if not reveals.purposes_for(auth.actor) or not auth.actor.can(Permission.REVEAL_PERSONAL_DATA):
        return []
    return [(name, FIELD_LABELS[name]) for name in REVEALABLE_FIELDS]


# The reveal links of the user page (`supervision/_reveal_links.html`) decide with this.
environment.globals["revealable_fields"] = _revealable_fields


async def _reveal_context(
    db: DbSession, ring: Keyring, auth: Authenticated, user_id: str
) -> dict[str, Any]:
    subject = await reveals.check_reveal_subject(db, auth.actor, user_id)
    allowed = reveals.purposes_for(auth.actor)
    return {
        "auth": auth,
        "user_id": user_id,
        "subject": await directory.masked_user(db, ring, subject),
        "fields": [(name, FIELD_LABELS[name]) for name in REVEALABLE_FIELDS],
        "purposes": [(purpose.value, PURPOSE_LABELS[purpose]) for purpose in allowed],
        "reason_min": REASON_MIN,
        "reason_max": REASON_MAX,
    }


def _chosen_field(field: str) -> str:
    return field if field in REVEALABLE_FIELDS else ""


@router.get("/admin/reveal/{user_id}")
async def reveal_form(
    request: Request,
    user_id: str,
    auth: SignedIn,
    db: DbSession,
    ring: Keyring,
    field: Annotated[str, Query(max_length=16)] = "",
    came_from: Annotated[str, Query(alias="from", max_length=16)] = "",
) -> Response:
    context = await _reveal_context(db, ring, auth, user_id)
    context.update(field=_chosen_field(field), came_from=_came_from(came_from))
    return _page(request, "reveal.html", context, headers=NO_STORE)


def _came_from(value: str) -> str:
    """Where the reveal was asked from, for the way back: the search, or the user page."""
    return "search" if value == "search" else "user"


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
    came_from: Annotated[str, Form(max_length=16)] = "",
) -> Response:
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
        try:
            context = await _reveal_context(db, ring, auth, user_id)
        except AmanatError:
            raise refused from None  # no form for a user out of reach: the error page
        context.update(
            error=refused.message,
            field=_chosen_field(field),
            purpose=purpose,
            came_from=_came_from(came_from),
        )
        return _page(
            request,
            "reveal.html",
            context,
            refused.status,
            headers={**NO_STORE, **refused.headers},  # a 429's Retry-After
        )
    # POST/redirect/GET: the value waits, sealed to this session, for the one page that shows
    # it; a reload of that page finds it gone and reveals (and records) nothing again.
    back = _came_from(came_from)
    response = redirect_with(
        f"/admin/reveal/{user_id}/shown" + ("?from=search" if back == "search" else ""),
        f"Revealed the {FIELD_LABELS[revealed.field]} for "
        f"{PURPOSE_LABELS[revealed.purpose].lower()}. This reveal is recorded, and the person "
        "can see who looked and why.",
    )
    response.set_cookie(
        REVEAL_COOKIE,
        seal_for_display(ring, revealed, viewer=auth.session.id, subject=user_id),
        max_age=int(DISPLAY_FOR.total_seconds()),
        path="/",
        secure=True,
        httponly=True,
        samesite="strict",
    )
    response.headers.update(NO_STORE)
    return response


@router.get("/admin/reveal/{user_id}/shown")
async def reveal_shown(
    request: Request,
    user_id: str,
    auth: SignedIn,
    db: DbSession,
    ring: Keyring,
    came_from: Annotated[str, Query(alias="from", max_length=16)] = "",
) -> Response:
    """The value just revealed, shown once: the answer drops it, so a reload shows it no more
    (and records nothing: revealing again is a new, recorded reveal)."""
    context = await _reveal_context(db, ring, auth, user_id)
    sealed = request.cookies.get(REVEAL_COOKIE, "")
    revealed = (
        open_for_display(ring, sealed, viewer=auth.session.id, subject=user_id) if sealed else None
    )
    context.update(came_from=_came_from(came_from), shown_page=True, field="")
    if revealed is not None:
        context.update(
            revealed=revealed,
            field=revealed.field,
            field_label=FIELD_LABELS[revealed.field],
            purpose_label=PURPOSE_LABELS[revealed.purpose],
        )
    response = _page(request, "reveal.html", context, headers=NO_STORE)
    if sealed:
        response.delete_cookie(
            REVEAL_COOKIE, path="/", secure=True, httponly=True, samesite="strict"
        )
    return response
