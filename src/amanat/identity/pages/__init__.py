"""Identity's pages, one module per topic."""

from pathlib import Path

from fastapi import APIRouter

from amanat.identity.pages import (
    account,
    mfa,
    recovery,
    signin,
    tokens,
)
from amanat.web.templating import add_template_dir

add_template_dir(Path(__file__).parent.parent / "templates")

router = APIRouter()
for topic in (signin, account, mfa, tokens, recovery):
    router.include_router(topic.router)
