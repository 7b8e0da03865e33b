"""The platform admin's pages for customer accounts: list, open, suspend, reactivate."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from amanat.access.roles import Role
from amanat.core.errors import AmanatError
from amanat.identity import accounts, invitations
from amanat.people.forms import PersonForm, person_fields_context
from amanat.people.schemas import EMAIL_BOUND, FULL_NAME_BOUND
from amanat.web.auth import (
    Keyring,
    PlatformAdmin,
)
from amanat.web.deps import CurrentSettings, DbSession
from amanat.web.templating import render

router = APIRouter(include_in_schema=False)


def _page(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    return render(request, f"identity/{template}", context, status_code=status)


def _accounts_context(auth: PlatformAdmin) -> dict[str, Any]:
    return {
        "auth": auth,
        "suspension_reasons": [reason.value for reason in accounts.SuspensionReason],
        "reactivation_reasons": [reason.value for reason in accounts.ReactivationReason],
    }


@router.get("/admin/accounts")
async def accounts_page(
    request: Request, auth: PlatformAdmin, db: DbSession, settings: CurrentSettings
) -> Response:
    rows = await accounts.list_customer_accounts(db, auth.actor)
    return _page(
        request,
        "admin_accounts.html",
        {**_accounts_context(auth), **person_fields_context(settings), "accounts": rows},
    )


@router.post("/admin/accounts/{account_id}/suspend")
async def suspend_account_page(
    account_id: str,
    auth: PlatformAdmin,
    db: DbSession,
    ring: Keyring,
    reason: Annotated[str, Form(max_length=32)],
) -> Response:
    await accounts.suspend_customer_account(db, ring, auth.actor, account_id, reason=reason)
    return RedirectResponse("/admin/accounts", status_code=303)


@router.post("/admin/accounts/{account_id}/reactivate")
async def reactivate_account_page(
    account_id: str,
    auth: PlatformAdmin,
    db: DbSession,
    reason: Annotated[str, Form(max_length=32)],
) -> Response:
    await accounts.reactivate_customer_account(db, auth.actor, account_id, reason=reason)
    return RedirectResponse("/admin/accounts", status_code=303)


@router.post("/admin/accounts")
async def open_account_page(
    request: Request,
    auth: PlatformAdmin,
    db: DbSession,
    ring: Keyring,
    settings: CurrentSettings,
    name: Annotated[str, Form(max_length=200)],
    username: Annotated[str, Form(max_length=64)],
    full_name: Annotated[str, Form(max_length=FULL_NAME_BOUND)],
    email: Annotated[str, Form(max_length=EMAIL_BOUND)],
    person: PersonForm,
) -> Response:
    """Open a customer account and invite its first owner, all or nothing."""
    try:
        async with db.begin_nested():
            account = await accounts.create_customer_account(db, auth.actor, name=name)
            await invitations.invite_user(
                db,
                ring,
                settings,
                auth.actor,
                account_id=account.id,
                username=username,
                full_name=full_name,
                email=email,
                role=Role.OWNER,
                phone=person.phone,
                cnic=person.cnic,
                address=person.address,
            )
    except AmanatError as exc:
        if exc.status >= 500:
            raise
        rows = await accounts.list_customer_accounts(db, auth.actor)
        typed = {"name": name, "username": username, "full_name": full_name, "email": email}
        return _page(
            request,
            "admin_accounts.html",
            {
                **_accounts_context(auth),
                **person_fields_context(settings, typed={**typed, **person.typed}, refusal=exc),
                "accounts": rows,
            },
            exc.status,
        )
    return RedirectResponse("/admin/accounts", status_code=303)
