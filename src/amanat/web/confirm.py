"""The confirmation page a disruptive action shows before it acts (remove a user, suspend,
reset a second factor, revoke a token, suspend an account).

A door shows it on GET and acts on the POST it leads to; the POST is refused unless it carries
`confirmed=yes`, so a forged or replayed bare POST from an old page does nothing disruptive.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from amanat.core.errors import InvalidInput
from amanat.web.templating import render


def confirmation_page(
    request: Request,
    auth: Any,
    *,
    title: str,
    consequences: Sequence[str],
    action: str,
    button: str,
    back: str,
    subject: str | None = None,
    fields: Mapping[str, str] | None = None,
    reasons: Sequence[tuple[str, str]] | None = None,
    danger: bool = True,
) -> Response:
    """`consequences` says, one line each, what will happen; `reasons` (value, words) adds a
    required choice with nothing preselected."""
    return render(
        request,
        "confirm.html",
        {
            "auth": auth,
            "title": title,
            "subject": subject,
            "consequences": list(consequences),
            "action": action,
            "button": button,
            "back": back,
            "fields": dict(fields or {}),
            "reasons": list(reasons or []),
            "danger": danger,
        },
    )


def require_confirmed(confirmed: str | None) -> None:
    """Refuse a disruptive POST that did not come from its confirmation page."""
    if confirmed != "yes":
        raise InvalidInput(
            "Confirm this action on its confirmation page first.", code="confirmation_required"
        )
