"""Who may reveal whose personal data, for which purpose (ASVS V8.2.3 field-level rules). (The
person's own list of who looked at their data is `amanat.people.data_access`.)

The rule table (policy §4 "access to users' information is limited to authorized admins"):

- account owner or admin: users of their own account; purposes account management and
  identity verification;
- privacy officer: anyone; any §2 purpose;
- support agent: only a ticket's requester, for customer support; there are no tickets yet,
  so support agents are refused (403 `ticket_required`);
- anyone else, platform admins included: nobody, for no purpose.

Every refusal is audited (`people.reveal_denied`), and so is every reveal (`people.reveal`,
by `amanat.people.reveal`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from amanat.access.actors import Actor
from amanat.access.roles import Permission, Role
from amanat.audit.records import record_event
from amanat.core.crypto import MasterKeyring
from amanat.core.errors import AmanatError, Forbidden, InvalidInput, NotFound
from amanat.core.settings import Settings
from amanat.identity.users import find_user_in_any_account, get_user_for
from amanat.people.reveal import (
    PURPOSE_LABELS,
    REVEALABLE_FIELDS,
    Purpose,
    RevealedValue,
    reveal_personal_data,
)

if TYPE_CHECKING:  # a domain object identity's services hand us; its table is not ours
    from amanat.identity.models import User

_ACCOUNT_PURPOSES = frozenset({Purpose.ACCOUNT_MANAGEMENT, Purpose.IDENTITY_VERIFICATION})
PURPOSES_BY_ROLE: dict[Role, frozenset[Purpose]] = {
    Role.OWNER: _ACCOUNT_PURPOSES,
    Role.ADMIN: _ACCOUNT_PURPOSES,
    Role.PRIVACY_OFFICER: frozenset(Purpose),
    Role.SUPPORT_AGENT: frozenset({Purpose.CUSTOMER_SUPPORT}),
}


def purposes_for(actor: Actor) -> list[Purpose]:
    """The purposes the actor may name, in the policy's order (empty: may reveal nothing)."""
    allowed = PURPOSES_BY_ROLE.get(actor.role) if actor.role is not None else None
    return [purpose for purpose in Purpose if allowed and purpose in allowed]


async def _refuse(
    session: AsyncSession,
    actor: Actor,
    error: AmanatError,
    *,
    user_id: str,
    field: str,
    purpose: str,
) -> AmanatError:
    """Audit the refusal and return the error, marked so the audit record is kept."""
    target = user_id if 0 < len(user_id) <= 36 and user_id.isprintable() else None
    await record_event(
        session,
        actor=actor.audit(),
        action="people.reveal_denied",
        account_id=actor.account_id,
        target_type="user" if target else None,
        target_id=target,
        purpose=purpose,
        details={"field": field, "refusal": error.code},
    )
    error.keep_changes = True
    return error


async def _subject(session: AsyncSession, actor: Actor, user_id: str) -> User:
    """The user whose data the actor asks for, within the actor's reach; else NotFound."""
    if actor.role == Role.PRIVACY_OFFICER:
        # A privacy officer's reach is every account (policy §4 access, audited per reveal).
        return await find_user_in_any_account(session, user_id)
    return await get_user_for(session, actor, user_id)


async def check_reveal_subject(session: AsyncSession, actor: Actor, user_id: str) -> User:
    """Before a reveal form is shown: 403 for a role that may reveal nothing, 404 for a user
    outside the actor's reach, so the form confirms no id of another account; else the user."""
    if not purposes_for(actor) or not actor.can(Permission.REVEAL_PERSONAL_DATA):
        raise Forbidden("Your role may not reveal personal data.", code="reveal_not_allowed")
    return await _subject(session, actor, user_id)


async def reveal_user_field(
    session: AsyncSession,
    ring: MasterKeyring,
    settings: Settings,
    actor: Actor,
    user_id: str,
    *,
    field: str,
    purpose: Purpose,
    reason: str,
) -> RevealedValue:
    """Show one field of one user's personal data in the clear, if the actor's role allows it
    for this user and purpose; audited either way, and bounded per actor."""
    if field not in REVEALABLE_FIELDS:
        raise InvalidInput("No such field.", code="unknown_field", field="field")
    role = actor.role
    refusal: AmanatError | None = None
    if (
        role is None
        or role not in PURPOSES_BY_ROLE
        or not actor.can(Permission.REVEAL_PERSONAL_DATA)
    ):
        refusal = Forbidden("Your role may not reveal personal data.", code="reveal_not_allowed")
    elif role == Role.SUPPORT_AGENT:
        # A support agent sees the data of a ticket's requester only, and there are no tickets
        # yet: nothing can name one, so nothing is revealed.
        refusal = Forbidden(
            "Support agents reveal personal data only for the requester of a ticket assigned "
            "to them; tickets are not available yet.",
            code="ticket_required",
        )
    if refusal is not None:
        raise await _refuse(
            session, actor, refusal, user_id=user_id, field=field, purpose=purpose.value
        )
    assert role is not None
    assert actor.user_id is not None
    try:
        user = await _subject(session, actor, user_id)
    except NotFound as missing:
        raise await _refuse(
            session, actor, missing, user_id=user_id, field=field, purpose=purpose.value
        ) from None
    if purpose not in PURPOSES_BY_ROLE[role]:
        allowed = ", ".join(PURPOSE_LABELS[p].lower() for p in purposes_for(actor))
        raise await _refuse(
            session,
            actor,
            Forbidden(
                f"Your role may reveal data only for: {allowed}.", code="purpose_not_allowed"
            ),
            user_id=user_id,
            field=field,
            purpose=purpose.value,
        )
    if user.person_id is None:
        raise NotFound("This user has no personal data.", code="person_not_found")
    return await reveal_personal_data(
        session,
        ring,
        actor_user_id=actor.user_id,
        actor_role=role.value,
        person_id=user.person_id,
        field=field,
        purpose=purpose,
        reason=reason,
        may_reveal=True,
        limit_per_hour=settings.reveal_limit_per_hour,
    )
