"""The platform admin's pages for customer accounts: list, open, one account's page (owner,
users, pending invitations), suspend (after a confirmation page) and reactivate."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from amanat.access.roles import Role
from amanat.audit.event_words import code_words, role_words, status_words
from amanat.core.errors import AmanatError
from amanat.identity import accounts, invitations
from amanat.people.forms import PersonForm, person_fields_context
from amanat.people.masking import mask_email
from amanat.people.schemas import EMAIL_BOUND, FULL_NAME_BOUND
from amanat.web.auth import (
    Keyring,
    PlatformAdmin,
)
from amanat.web.confirm import confirmation_page, require_confirmed
from amanat.web.deps import CurrentSettings, DbSession
from amanat.web.flash import redirect_with
from amanat.web.templating import render

router = APIRouter(include_in_schema=False)


def _page(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    return render(request, f"supervision/{template}", context, status_code=status)


def _accounts_context(auth: PlatformAdmin) -> dict[str, Any]:
    return {
        "auth": auth,
        "status_words": status_words,
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


def _reasons(
    kind: type[accounts.SuspensionReason | accounts.ReactivationReason],
) -> list[tuple[str, str]]:
    return [(reason.value, code_words(reason.value)) for reason in kind]


@router.get("/admin/accounts/{account_id}")
async def account_page(
    request: Request, account_id: str, auth: PlatformAdmin, db: DbSession, ring: Keyring
) -> Response:
    overview = await accounts.account_overview(db, ring, auth.actor, account_id)
    return _page(
        request,
        "admin_account.html",
        {
            "auth": auth,
            "overview": overview,
            "account": overview.account,
            "reactivation_reasons": _reasons(accounts.ReactivationReason),
            "role_words": role_words,
            "status_words": status_words,
        },
    )


@router.get("/admin/accounts/{account_id}/suspend")
async def confirm_suspend_page(
    request: Request, account_id: str, auth: PlatformAdmin, db: DbSession, ring: Keyring
) -> Response:
    overview = await accounts.account_overview(db, ring, auth.actor, account_id)
    back = f"/admin/accounts/{overview.account.id}"
    if overview.account.status == "suspended":
        return redirect_with(back, "This account is already suspended.", "error")
    return confirmation_page(
        request,
        auth,
        title="Suspend this customer account?",
        subject=overview.account.name,
        consequences=[
            f"Sign out every one of its {overview.user_count} users at once and revoke "
            "their API tokens.",
            "Mail every active user, the owner included, that the account is suspended.",
            "Refuse sign-in, invitations and emailed links until it is reactivated; "
            "reactivating does not bring back ended sessions or tokens.",
        ],
        action=f"/admin/accounts/{overview.account.id}/suspend",
        button="Suspend account",
        back=back,
        reasons=_reasons(accounts.SuspensionReason),
    )


@router.post("/admin/accounts/{account_id}/suspend")
async def suspend_account_page(
    account_id: str,
    auth: PlatformAdmin,
    db: DbSession,
    ring: Keyring,
    reason: Annotated[str, Form(max_length=32)] = "",
    confirmed: Annotated[str | None, Form(max_length=8)] = None,
) -> Response:
    require_confirmed(confirmed)
    row = await accounts.suspend_customer_account(db, ring, auth.actor, account_id, reason=reason)
    return redirect_with(
        f"/admin/accounts/{row.id}",
        f"Account suspended: {row.name}. Its users are signed out and have been mailed.",
    )


@router.post("/admin/accounts/{account_id}/reactivate")
async def reactivate_account_page(
    account_id: str,
    auth: PlatformAdmin,
    db: DbSession,
    reason: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    row = await accounts.reactivate_customer_account(db, auth.actor, account_id, reason=reason)
    return redirect_with(
        f"/admin/accounts/{row.id}",
        f"Account reactivated: {row.name}. Its users may sign in again.",
    )


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
    return redirect_with(
        f"/admin/accounts/{account.id}",
        f"Account opened: {account.name}. Invitation sent to {mask_email(email.strip())}.",
    )
