"""The admin's JSON doors over the users of their own account, one module per topic."""

from fastapi import APIRouter

from amanat.supervision.api import accounts, activity, audit, imports, people, settings, users

router = APIRouter()
router.include_router(imports.router)
router.include_router(users.router)
router.include_router(people.router)
router.include_router(people.privacy)
router.include_router(activity.router)
router.include_router(audit.router)
router.include_router(settings.router)
# The platform administrator over customer accounts.
router.include_router(accounts.router)
