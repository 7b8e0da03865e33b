"""The account's sign-ins per day, for its admins (`amanat.supervision.activity`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from amanat.activity.chart import sign_in_chart
from amanat.activity.vocabulary import DEVICE_TYPE_WORDS, EVENT_KIND_WORDS, OUTCOME_WORDS
from amanat.supervision import activity as supervised
from amanat.web.auth import UserSupervisor
from amanat.web.deps import DbSession
from amanat.web.templating import environment, render

router = APIRouter(include_in_schema=False)

DEFAULT_CHART_DAYS = 30
CHART_DAY_CHOICES = (7, 30, 90)

# Codes appear in words on every page that shows activity: the admin's user page includes
# `supervision/user_activity.html` from its own route, so the words travel as template globals.
environment.globals.update(
    event_kind_words=EVENT_KIND_WORDS,
    outcome_words=OUTCOME_WORDS,
    device_type_words=DEVICE_TYPE_WORDS,
)


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
            "day_choices": sorted({*CHART_DAY_CHOICES, days}),
            "counts": counts,
            "chart": sign_in_chart(counts, title=f"Sign-ins per day, last {days} days"),
        },
    )
