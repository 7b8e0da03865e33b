"""Identity's JSON doors, one module per topic."""

from fastapi import APIRouter

from amanat.identity.api import me, recovery, session, tokens

router = APIRouter()
for topic in (session, me, tokens, recovery):
    router.include_router(topic.router)
# Sign-up's own router answers 404 on every route while the operator has sign-up switched off.
router.include_router(recovery.signup_api)
