"""The audit log over JSON: account admins read their account's events, privacy officers and
platform admins every account's (`amanat.supervision.audit_log`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from amanat.supervision import audit_log
from amanat.supervision.audit_log import AuditEvent, AuditQuery
from amanat.web.auth import SignedIn
from amanat.web.deps import DbSession
from amanat.web.localtime import zone_named

router = APIRouter(prefix="/api/v1", tags=["audit"])


class AuditEventOut(BaseModel):
    seq: int
    at: datetime
    action: str = Field(description="The action's code, e.g. `user.invite`.")
    action_words: str = Field(description="The action in words, e.g. `User invited`.")
    account_id: str | None
    actor_id: str | None = Field(description="Null when the system or the operator acted.")
    actor_username: str | None
    actor_role: str | None
    actor_role_words: str
    target_type: str | None
    target_id: str | None
    target_username: str | None
    purpose: str | None
    details: dict[str, str | int | bool | None] = Field(
        description="Ids, codes and flags only; never personal data."
    )


class AuditEventsOut(BaseModel):
    events: list[AuditEventOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next (older) page; null on the last page."
    )


def _event_out(event: AuditEvent) -> AuditEventOut:
    details = {
        key: value
        for key, value in event.details.items()
        if value is None or isinstance(value, str | int | bool)
    }
    return AuditEventOut(
        seq=event.seq,
        at=event.at,
        action=event.action,
        action_words=event.action_words,
        account_id=event.account_id,
        actor_id=event.actor_id,
        actor_username=event.actor_username,
        actor_role=event.actor_role,
        actor_role_words=event.actor_role_words,
        target_type=event.target_type,
        target_id=event.target_id,
        target_username=event.target_username,
        purpose=event.purpose,
        details=details,
    )


Filter = Annotated[str, Query(max_length=64)]


@router.get(
    "/audit/events",
    response_model=AuditEventsOut,
    summary="Audit events, newest first, filtered by actor, action, target and dates",
    description=(
        "Account owners and admins see their own account's events; privacy officers and "
        "platform admins every account's (narrow with `account`). `actor` is a username, "
        "`target` a username or an id, `since`/`until` whole days (YYYY-MM-DD, `until` "
        "included) in the reader's time zone."
    ),
)
async def audit_events(
    auth: SignedIn,
    db: DbSession,
    actor: Filter = "",
    action: Filter = "",
    target: Filter = "",
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
    account: Annotated[str, Query(max_length=36)] = "",
    cursor: Annotated[str, Query(max_length=18)] = "",
    limit: Annotated[int, Query(ge=1, le=audit_log.MAX_LIMIT)] = audit_log.DEFAULT_LIMIT,
) -> AuditEventsOut:
    query = AuditQuery(actor, action, target, since, until, account, cursor, limit)
    zone = zone_named(getattr(auth.user, "time_zone", None))
    page = await audit_log.read_audit_log(db, auth.actor, query, zone=zone)
    return AuditEventsOut(
        events=[_event_out(event) for event in page.events], next_cursor=page.next_cursor
    )
