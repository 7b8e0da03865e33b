"""An admin corrects a user's personal data (policy §4: "Admin create users and supervise them").

The CNIC is identity-verification data: a person cannot change it on their profile
(`amanat.people.self_service`); an admin corrects it here, after checking it. Full name, phone
number and postal address can be corrected too. The email address cannot: it stays with the
person's own confirmed change, so no admin can redirect where the account's mail (and password
resets) go.

- Reach: only users `users.get_user_for` gives the actor (anyone else is "not found"), and
  only with the right to manage them: MANAGE_USERS in a customer account, MANAGE_STAFF for
  platform staff; an owner's data only by an owner. Support agents and privacy officers never,
  and nobody corrects their own data here (that is what a second pair of eyes is for).
- Validated as an invitation is (`correct_person` with the operator's required fields); the
  CNIC stays unique platform-wide. A CNIC another person of the same account has is refused
  (`cnic_taken`); one only another customer account has is accepted as a free one would be
  and stored as a held claim (`amanat.identity.claims`: its holder is told, the provider
  resolves it), so no admin learns what other accounts hold.
- The person is mailed which fields changed, never the values; the change is audited as
  `user.personal_data_correct` with one flag per field, the fields cleared (null) by name and
  the reason code, never a value. An empty value is refused (`empty_value`): erasing is asked
  for with null only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from amanat.access.actors import Actor
from amanat.access.roles import Permission, Role
from amanat.audit.records import record_event
from amanat.core.crypto import MasterKeyring
from amanat.core.errors import Forbidden, InvalidInput, NotFound
from amanat.core.settings import Settings
from amanat.identity.claims import HeldClaim, settle_claims
from amanat.identity.mail import send_identity_mail
from amanat.identity.users import get_user_for
from amanat.people.blind_index import held_fields
from amanat.people.personal_data import PersonData, read_person
from amanat.people.registry import correct_person
from amanat.people.reveal import FIELD_LABELS

if TYPE_CHECKING:  # a domain object identity's services hand us; its table is not ours
    from amanat.identity.models import User


CORRECTABLE_FIELDS = ("full_name", "phone", "cnic", "address")
AUDIT_ACTION = "user.personal_data_correct"


class CorrectionReason(StrEnum):
    """Why an admin corrects someone's data: a small fixed list, so no free text (and no
    personal data) reaches the audit log."""

    IDENTITY_VERIFICATION = "identity_verification"
    USER_REQUEST = "user_request"
    DATA_ERROR = "data_error"


REASON_LABELS = {
    CorrectionReason.IDENTITY_VERIFICATION: "identity verification",
    CorrectionReason.USER_REQUEST: "the person asked for it",
    CorrectionReason.DATA_ERROR: "the data was wrong",
}


@dataclass(frozen=True, repr=False)
class Correction:
    """The corrected user, their data after the correction, and the fields that changed."""

    user: User
    person: PersonData
    changed: tuple[str, ...]

    def __repr__(self) -> str:
        return f"Correction(user_id={self.user.id!r}, changed={self.changed!r})"


def _forbidden(message: str = "You are not allowed to correct personal data.") -> Forbidden:
    return Forbidden(message, code="correction_not_allowed")


def _may_correct(actor: Actor, user: User) -> bool:
    if actor.is_operator:
        return True
    if user.role == Role.OWNER and actor.role != Role.OWNER:
        return False
    if actor.is_platform_staff:
        return actor.can(Permission.MANAGE_STAFF)
    return actor.can(Permission.MANAGE_USERS)


def correction_reason(value: str | None) -> CorrectionReason | None:
    """``value`` as a reason code (blank: none given); InvalidInput for anything else."""
    if value is None or not value.strip():
        return None
    try:
        return CorrectionReason(value)
    except ValueError:
        raise InvalidInput(
            "Choose a reason from the list.", code="invalid_reason", field="reason"
        ) from None


async def correctable_user(session: AsyncSession, actor: Actor, user_id: str) -> User:
    """The user whose data the actor may correct: NotFound outside the actor's reach,
    Forbidden within it without the right."""
    if not (actor.can(Permission.MANAGE_USERS) or actor.can(Permission.MANAGE_STAFF)):
        raise _forbidden()
    user = await get_user_for(session, actor, user_id)
    if actor.user_id == user.id:
        raise _forbidden("Another administrator corrects your own personal data.")
    if not _may_correct(actor, user):
        raise _forbidden()
    if user.person_id is None:
        raise NotFound("There is no personal data on this account.", code="person_not_found")
    return user


async def correct_personal_data(
    session: AsyncSession,
    ring: MasterKeyring,
    settings: Settings,
    actor: Actor,
    user_id: str,
    *,
    changes: Mapping[str, object],
    reason: CorrectionReason | None = None,
) -> Correction:
    """Correct some of ``full_name``, ``phone``, ``cnic`` and ``address`` (None clears an
    optional one, an empty text is refused); the person is told which fields changed, and the
    change is audited, a cleared field by name."""
    user = await correctable_user(session, actor, user_id)
    if set(changes) - set(CORRECTABLE_FIELDS):
        raise InvalidInput(
            "An admin corrects full name, phone number, CNIC and postal address only.",
            code="unknown_field",
        )
    if not changes:
        raise InvalidInput("Give at least one field to correct.", code="no_changes")
    assert user.person_id is not None  # checked by correctable_user
    before = await read_person(session, ring, user.person_id)
    entered = await correct_person(
        session,
        ring,
        user.person_id,
        required=settings.require_identity_fields,
        changes=changes,
        # Platform staff see every account anyway: to them a held value is refused openly.
        hold_foreign=not actor.is_platform_staff,
    )
    after = entered.person
    changed = tuple(
        field for field in CORRECTABLE_FIELDS if getattr(before, field) != getattr(after, field)
    )
    # A held email address is another person's mailbox: nothing about this user goes there.
    if changed and "email" not in await held_fields(session, user.person_id):
        await send_identity_mail(
            session,
            ring,
            template="personal_data_corrected",
            to=after.email,
            account_id=user.account_id,
            username=user.username,
            field_labels=[FIELD_LABELS[field] for field in changed],
            reason_label=REASON_LABELS[reason] if reason is not None else None,
            profile_page=f"{settings.base_url}/account/profile",
        )
    if changed:
        details: dict[str, str | int | bool | None] = {
            field: field in changed for field in CORRECTABLE_FIELDS
        }
        cleared = [field for field in changed if getattr(after, field) is None]
        if cleared:
            # An erasure is named (the field, never the value it held).
            details["cleared"] = ",".join(cleared)
        if reason is not None:
            details["reason"] = reason.value
        await record_event(
            session,
            actor=actor.audit(),
            action=AUDIT_ACTION,
            account_id=user.account_id,
            target_type="user",
            target_id=user.id,
            details=details,
        )
    await settle_claims(
        session,
        ring,
        settings,
        actor,
        account_id=user.account_id,
        claims=[HeldClaim.of_person(user.id, after.id, held) for held in entered.held],
    )
    return Correction(user, after, changed)
