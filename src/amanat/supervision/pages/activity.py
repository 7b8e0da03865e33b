"""The account's sign-ins per day, for its admins (`amanat.supervision.activity`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from amanat.activity.chart import sign_in_chart
from amanat.supervision import activity as supervised
from amanat.web.auth import (
    UserSupervisor,
)
from amanat.web.deps import DbSession
from amanat.web.templating import render

router = APIRouter(include_in_schema=False)

DEFAULT_CHART_DAYS = 30


def _page(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    return render(request, f"supervision/{template}", context, status_code=status)


@router.get("/admin/activity")
async def account_activity_page(
    request: Request,
    auth: UserSupervisor,
    db: DbSession,
    days: Annotated[int, Query(ge=7, le=supervised.CHART_MAX_DAYS)] = DEFAULT_CHART_DAYS,
) -> Response:
    counts = await supervised.account_sign_ins_per_day(db, auth.actor, days)
    return _page(
        request,
        "account_activity.html",
        {
            "auth": auth,
            "days": days,
            "counts": counts,
            "chart": sign_in_chart(counts, title=f"Sign-ins per day, last {days} days"),
        },
    )
