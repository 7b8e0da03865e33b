"""The provider's privacy policy, served at /privacy-policy from the text shipped in the package.

The text is the provider's, kept verbatim in `policy/privacy-policy.txt`; this module only gives
it shape (title, date line, numbered sections, lists, paragraphs). Jinja escapes every piece, so
the file can hold any characters without becoming markup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse

from amanat.web.error_pages import signed_in_viewer
from amanat.web.templating import render

POLICY_FILE = Path(__file__).parent / "policy" / "privacy-policy.txt"

router = APIRouter(include_in_schema=False)

_SECTION = re.compile(r"\d+\.\s")
_ITEM = "- "
_DATE_LINE = "Updated on:"


@dataclass(frozen=True)
class PolicyBlock:
    """One piece of the policy as a page shows it."""

    kind: Literal["section", "date", "paragraph", "list"]
    text: str = ""
    items: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class PolicyDocument:
    title: str
    blocks: tuple[PolicyBlock, ...]


def parse_policy(text: str) -> PolicyDocument:
    """The first line is the title; `1. …` lines open sections, `- …` lines make lists."""
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return PolicyDocument(title="Privacy Policy", blocks=())
    blocks: list[PolicyBlock] = []
    items: list[str] = []

    def close_list() -> None:
        if items:
            blocks.append(PolicyBlock("list", items=tuple(items)))
            items.clear()

    for line in lines[1:]:
        if line.startswith(_ITEM):
            items.append(line[len(_ITEM) :])
            continue
        close_list()
        if _SECTION.match(line):
            blocks.append(PolicyBlock("section", line))
        elif line.startswith(_DATE_LINE):
            blocks.append(PolicyBlock("date", line))
        else:
            blocks.append(PolicyBlock("paragraph", line))
    close_list()
    return PolicyDocument(title=lines[0], blocks=tuple(blocks))


@cache
def privacy_policy() -> PolicyDocument:
    """The shipped policy, read once per process."""
    return parse_policy(POLICY_FILE.read_text(encoding="utf-8"))


@router.get("/privacy-policy", response_class=HTMLResponse)
async def privacy_policy_page(request: Request) -> HTMLResponse:
    auth = await signed_in_viewer(request.scope)  # the navigation, for a signed-in reader
    return render(request, "privacy_policy.html", {"policy": privacy_policy(), "auth": auth})
