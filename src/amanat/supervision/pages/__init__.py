"""The admin's pages over the users of their own account, and the platform administrator's over
customer accounts; one module per topic."""

from pathlib import Path

from fastapi import APIRouter

from amanat.supervision.pages import (
    accounts,
    activity,
    audit,
    imports,
    people,
    settings,
    user_actions,
    users,
)
from amanat.web.templating import add_template_dir

add_template_dir(Path(__file__).parent.parent / "templates")

router = APIRouter()
router.include_router(people.router)
router.include_router(users.router)
# After people's `/admin/users/{id}/personal-data`: the actions' `{action}` would match it.
router.include_router(user_actions.router)
router.include_router(imports.router)
router.include_router(activity.router)
router.include_router(audit.router)
router.include_router(settings.router)
# The platform administrator over customer accounts.
router.include_router(accounts.router)
