"""The audit log page: the events an account admin, privacy officer or platform admin may
read, in words, filtered by actor, action, target and dates (`amanat.supervision.audit_log`)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from amanat.audit.event_words import action_words
from amanat.core.errors import InvalidInput
from amanat.supervision import audit_log
from amanat.supervision.audit_log import AuditLogPage, AuditQuery
from amanat.web.auth import SignedIn
from amanat.web.deps import DbSession
from amanat.web.localtime import zone_named
from amanat.web.templating import render

router = APIRouter(include_in_schema=False)

# Over-long values are cut, not refused: the service then says what is wrong with them.
_Typed = Annotated[str, Query()]


def _older_link(query: AuditQuery, cursor: str) -> str:
    kept = {
        name: value
        for name, value in (
            ("actor", query.actor),
            ("action", query.action),
            ("target", query.target),
            ("since", query.since),
            ("until", query.until),
            ("account", query.account),
        )
        if value
    }
    return "/admin/audit?" + urlencode({**kept, "cursor": cursor})


@router.get("/admin/audit")
async def audit_log_page(
    request: Request,
    auth: SignedIn,
    db: DbSession,
    actor: _Typed = "",
    action: _Typed = "",
    target: _Typed = "",
    since: _Typed = "",
    until: _Typed = "",
    account: _Typed = "",
    cursor: _Typed = "",
) -> Response:
    query = AuditQuery(
        actor[:100], action[:100], target[:100], since[:40], until[:40], account[:100], cursor[:40]
    )
    zone = zone_named(getattr(auth.user, "time_zone", None))
    errors: dict[str, str] = {}
    page: AuditLogPage | None = None
    try:
        page = await audit_log.read_audit_log(db, auth.actor, query, zone=zone)
    except InvalidInput as exc:
        field = exc.extra.get("field")
        errors[field if isinstance(field, str) else "form"] = exc.message
    context: dict[str, Any] = {
        "auth": auth,
        "query": query,
        "page": page,
        "errors": errors,
        "every_account": audit_log.reads_every_account(auth.actor),
        "actions": [(code, action_words(code)) for code in (page.actions if page else [])],
        "older": _older_link(query, page.next_cursor) if page and page.next_cursor else None,
    }
    return render(
        request, "supervision/audit_log.html", context, status_code=400 if errors else 200
    )
