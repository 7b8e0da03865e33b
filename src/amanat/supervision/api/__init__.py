"""The admin's JSON doors over the users of their own account, one module per topic."""

from fastapi import APIRouter

from amanat.supervision.api import activity, imports, people, users

router = APIRouter()
router.include_router(imports.router)
router.include_router(users.router)
router.include_router(people.router)
router.include_router(people.privacy)
router.include_router(activity.router)
