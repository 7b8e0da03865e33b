"""Where a sign-in ends: the page a signed-out person asked for, when it is one of ours.

Opening a page while signed out leads to `/signin?next=/that/page`. Only a path on this site is
honoured (an open redirect would let a phishing link borrow our sign-in page): it begins with
one "/" (not "//" nor "/\\", which browsers read as another host), names no scheme, holds no
control character or backslash, and is at most `MAX_RETURN_PATH` long. Anything else ends at
/account. The path is kept on the pending session row from the password step, so the
second-factor and enrolment steps do not take it from a form.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import urlencode

from amanat.identity.models import UserSession

DEFAULT_RETURN = "/account"
MAX_RETURN_PATH = 512
# Pages a sign-in must never land on again.
_NOT_RETURNED_TO = ("/signin", "/signout", "/signup", "/reset", "/invite/", "/not-me/")


def safe_return_path(value: str | None) -> str | None:
    """`value` when it is a path of this site a sign-in may end on; None otherwise."""
    if not value or len(value) > MAX_RETURN_PATH:
        return None
    if not value.startswith("/") or value.startswith("//"):
        return None
    if "\\" in value or any(unicodedata.category(ch)[0] in "CZ" and ch != " " for ch in value):
        return None
    if " " in value or ":" in value.split("?", 1)[0]:
        return None
    if any(value == page.rstrip("/") or value.startswith(page) for page in _NOT_RETURNED_TO):
        return None
    if value.startswith("/api/"):
        return None
    return value


def signin_page_for(path: str, query: str = "") -> str:
    """The sign-in page that comes back to `path` (and its query) afterwards."""
    wanted = f"{path}?{query}" if query else path
    if safe_return_path(wanted) is None or wanted == DEFAULT_RETURN:
        return "/signin"
    return "/signin?" + urlencode({"next": wanted})


def remember_return(row: UserSession, value: str | None) -> None:
    """Keep where the sign-in should end on its (pending) session row."""
    row.return_to = safe_return_path(value)


def carry_return(old: UserSession, new: UserSession) -> None:
    """The second factor replaces the session row: the destination moves with it."""
    new.return_to = old.return_to


def take_return(row: UserSession | None) -> str:
    """Where to go now that every step of the sign-in is done; used once."""
    if row is None:
        return DEFAULT_RETURN
    target = safe_return_path(row.return_to) or DEFAULT_RETURN
    row.return_to = None
    return target
