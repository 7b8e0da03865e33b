"""The admin's pages over the users of their own account, one module per topic."""

from pathlib import Path

from fastapi import APIRouter

from amanat.supervision.pages import activity, people, users
from amanat.web.templating import add_template_dir

add_template_dir(Path(__file__).parent.parent / "templates")

router = APIRouter()
router.include_router(people.router)
router.include_router(users.router)
router.include_router(activity.router)
