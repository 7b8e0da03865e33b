"""The people of an admin's own account as the admin sees them: masked, one at a time, found by
an exact value, or all of them for a CSV download.

Every door (JSON, HTML, CSV) takes its users from here, so every door shows the same masked
forms (`PersonData.masked()`: initials, `a***@example.com`, `+92 3** ****567`,
`35202-*******-1`, the city of the address) and sees the same users. Which users an actor may
see is decided by `users.list_users` and `users.get_user_for`; nothing here widens it.
Searches and exports are audited with counts and field names, never values.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Literal, get_args

from sqlalchemy.ext.asyncio import AsyncSession

from amanat.access.actors import Actor
from amanat.access.roles import Permission
from amanat.audit.records import record_event
from amanat.core.crypto import MasterKeyring
from amanat.core.errors import Forbidden, InvalidInput, NotFound
from amanat.identity import users
from amanat.people.personal_data import read_person
from amanat.people.search import search_people

if TYPE_CHECKING:  # a domain object identity's services hand us; its table is not ours
    from amanat.identity.models import User


SearchCriterion = Literal["email", "phone", "cnic", "name"]
# One download holds at most this many users; a larger account is refused, not cut short.
EXPORT_MAX_USERS = 10_000


@dataclass(frozen=True)
class MaskedUser(users.UserSummary):
    """A user's account facts and every personal field masked; phone, CNIC and city are None
    when the person gave none."""

    masked_phone: str | None = None
    masked_cnic: str | None = None
    masked_city: str | None = None


def search_criterion(name: str) -> SearchCriterion:
    """``name`` as a search criterion; InvalidInput for anything else."""
    for criterion in get_args(SearchCriterion):
        if name == criterion:
            found: SearchCriterion = criterion
            return found
    raise InvalidInput(
        "Search by email, phone, CNIC or name.", code="invalid_criterion", field="criterion"
    )


def _may_supervise(actor: Actor) -> bool:
    return actor.can(Permission.SUPERVISE_USERS) or actor.can(Permission.MANAGE_STAFF)


async def masked_user(session: AsyncSession, ring: MasterKeyring, user: User) -> MaskedUser:
    """The user as anyone but themselves sees them (the caller has checked who may look)."""
    summary = await users.summarize(session, ring, user)
    masked = (await read_person(session, ring, user.person_id)).masked() if user.person_id else {}
    return MaskedUser(
        **{field.name: getattr(summary, field.name) for field in fields(users.UserSummary)},
        masked_phone=masked.get("phone"),
        masked_cnic=masked.get("cnic"),
        masked_city=masked.get("address"),
    )


async def masked_user_for(
    session: AsyncSession, ring: MasterKeyring, actor: Actor, user_id: str
) -> MaskedUser:
    """One user the actor supervises, masked; NotFound for anyone else."""
    return await masked_user(session, ring, await users.get_user_for(session, actor, user_id))


async def search_users(
    session: AsyncSession,
    ring: MasterKeyring,
    actor: Actor,
    *,
    criterion: SearchCriterion,
    value: str,
) -> list[MaskedUser]:
    """The users of the actor's own account whose person matches ``value`` exactly, masked."""
    if not _may_supervise(actor):
        raise Forbidden("You are not allowed to search people.", code="forbidden")
    criterion = search_criterion(criterion)
    if actor.account_id is None:
        return []
    person_ids = await search_people(
        session,
        ring,
        account_id=actor.account_id,
        email=value if criterion == "email" else None,
        phone=value if criterion == "phone" else None,
        cnic=value if criterion == "cnic" else None,
        name=value if criterion == "name" else None,
    )
    found: list[MaskedUser] = []
    if person_ids:
        for user_id in await users.ids_of_users_holding(session, person_ids):
            try:
                found.append(await masked_user_for(session, ring, actor, user_id))
            except NotFound:
                continue  # not one the actor supervises
    await record_event(
        session,
        actor=actor.audit(),
        action="people.search",
        account_id=actor.account_id,
        details={"criterion": criterion, "matches": len(found)},
    )
    return found


async def export_users(
    session: AsyncSession, ring: MasterKeyring, actor: Actor
) -> list[MaskedUser]:
    """Every user of the actor's own account, masked, newest first, for a download (audited)."""
    if not _may_supervise(actor):
        raise Forbidden("You are not allowed to export users.", code="forbidden")
    listed = await users.list_users(session, ring, actor, limit=EXPORT_MAX_USERS + 1)
    if len(listed) > EXPORT_MAX_USERS:
        raise InvalidInput(
            f"This account has more than {EXPORT_MAX_USERS} users, too many for one download.",
            code="export_too_large",
        )
    # list_users loaded each row: get_user_for finds it in the session, with the same check.
    rows = [
        await masked_user(session, ring, await users.get_user_for(session, actor, summary.id))
        for summary in listed
    ]
    await record_event(
        session,
        actor=actor.audit(),
        action="users.export",
        account_id=actor.account_id,
        details={"format": "csv", "rows": len(rows)},
    )
    return rows
