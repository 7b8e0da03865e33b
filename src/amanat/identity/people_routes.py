"""Admin search of the people in one's own account, by exact email, phone, CNIC or name word.

The value travels in a POST body, never in the URL (ASVS V14.2.1: no personal data in URLs,
where access logs, proxies and browser history would keep it). Results are masked users of the
actor's own account; each search is audited with the criterion and count, never the value.
"""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.audit.service import record_event
from amanat.core.crypto import MasterKeyring
from amanat.core.errors import Forbidden, NotFound
from amanat.identity import users
from amanat.identity.actors import Actor
from amanat.identity.api import _masked, _summary_out
from amanat.identity.api_tokens import ApiScope
from amanat.identity.auth import Keyring, UserSupervisor, require_scope
from amanat.identity.models import User
from amanat.identity.roles import Permission
from amanat.identity.schemas import UserOut
from amanat.people.schemas import PersonSearchIn
from amanat.people.search import search_people
from amanat.web.deps import DbSession

router = APIRouter(prefix="/api/v1/people", tags=["people"])


async def search_users(
    session: AsyncSession, ring: MasterKeyring, actor: Actor, query: PersonSearchIn
) -> list[User]:
    """The users of the actor's own account whose person matches the query's one value."""
    if not (actor.can(Permission.SUPERVISE_USERS) or actor.can(Permission.MANAGE_STAFF)):
        raise Forbidden("You are not allowed to search people.", code="forbidden")
    if actor.account_id is None:
        return []
    person_ids = await search_people(
        session,
        ring,
        account_id=actor.account_id,
        email=query.email,
        phone=query.phone,
        cnic=query.cnic,
        name=query.name,
    )
    found: list[User] = []
    if person_ids:
        user_ids = await session.scalars(select(User.id).where(User.person_id.in_(person_ids)))
        for user_id in user_ids.all():
            try:
                found.append(await users.get_user_for(session, actor, user_id))
            except NotFound:
                continue  # not one the actor supervises
    await record_event(
        session,
        actor=actor.audit(),
        action="people.search",
        account_id=actor.account_id,
        details={"criterion": query.criterion(), "matches": len(found)},
    )
    return found


@router.post(
    "/search",
    response_model=list[UserOut],
    summary="Find users of my account by exact email, phone, CNIC or name word (masked)",
    dependencies=[require_scope(ApiScope.USERS_READ)],
)
async def search(
    body: PersonSearchIn, auth: UserSupervisor, db: DbSession, ring: Keyring
) -> list[UserOut]:
    found = await search_users(db, ring, auth.actor, body)
    return [
        _summary_out(await users.summarize(db, ring, user), await _masked(db, ring, user))
        for user in found
    ]
