"""Held claims: an admin entered an email, CNIC or username that a person or user of another
customer account holds (docs/identity.md, "Values another account holds").

No door of one customer account may tell that a value exists in another: the door answers as
for a free value, and the value is stored as a held claim (`people.blind_index`: nobody's for
look-ups, sign-in and uniqueness). Here the claim is settled out of band: a row records it,
the holder is mailed (a held email or CNIC; counted per value with sign-up's warnings, so
neither door can flood a mailbox), and the audit log gets `identity.claim_held` outside every
customer account (account_id null): the provider's privacy officers and platform read it; the
entering account's log shows only its ordinary invitation or correction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from amanat.access.actors import Actor
from amanat.audit.records import AuditEntry, record_events
from amanat.core.clock import utcnow
from amanat.core.crypto import MasterKeyring
from amanat.core.settings import Settings
from amanat.identity.mail import send_identity_mail
from amanat.identity.recovery import ALLOWANCE_WINDOW, allowance_key, spend_allowance
from amanat.people.blind_index import ClaimEntry, HeldField, record_claims
from amanat.people.personal_data import read_person

WARNINGS_PER_VALUE = 3  # "someone used your email address (or CNIC)" mails, per value and hour
CLAIM_ACTION = "identity.claim_held"
_CLAIM_MAILS = {"email": "claim_attempt", "cnic": "claim_attempt_cnic"}


@dataclass(frozen=True, repr=False)
class HeldClaim:
    """A value a door stored as held for one user: a person's field (`HeldField`), or the
    username another account's user has (`holder_account_id` only)."""

    user_id: str
    person_id: str | None
    field: str
    holder_account_id: str
    held: HeldField | None = None

    def __repr__(self) -> str:
        return f"HeldClaim(field={self.field!r})"

    @classmethod
    def of_person(cls, user_id: str, person_id: str, held: HeldField) -> HeldClaim:
        return cls(user_id, person_id, held.field, held.holder_account_id, held)


async def warn_holder(
    session: AsyncSession,
    ring: MasterKeyring,
    settings: Settings,
    person_id: str,
    template: str,
    index: bytes,
) -> None:
    """Tell the holder of an email address or CNIC that someone else entered it (at most
    `WARNINGS_PER_VALUE` an hour per value, whichever door it was)."""
    key = allowance_key(ring, "user", "signup_warning", index.hex())
    if await spend_allowance(session, key, limit=WARNINGS_PER_VALUE, window=ALLOWANCE_WINDOW):
        return
    person = await read_person(session, ring, person_id)
    await send_identity_mail(
        session,
        ring,
        template=template,
        to=person.email,
        account_id=person.account_id,
        signin_page=f"{settings.base_url}/signin",
        reset_page=f"{settings.base_url}/reset",
        privacy_page=f"{settings.base_url}/privacy-policy",
    )


async def settle_claims(
    session: AsyncSession,
    ring: MasterKeyring,
    settings: Settings,
    actor: Actor,
    *,
    account_id: str,
    claims: Sequence[HeldClaim],
) -> None:
    """Record the claims the actor's door made in ``account_id``, mail each holder of a held
    email or CNIC, and audit each claim outside every customer account."""
    if not claims:
        return
    ids = await record_claims(
        session,
        [
            ClaimEntry(
                account_id=account_id,
                holder_account_id=claim.holder_account_id,
                field=claim.field,
                person_id=claim.person_id,
                user_id=claim.user_id,
            )
            for claim in claims
        ],
        at=utcnow(),
    )
    for claim in claims:
        if claim.held is not None:
            await warn_holder(
                session,
                ring,
                settings,
                claim.held.holder_person_id,
                _CLAIM_MAILS[claim.field],
                claim.held.digest,
            )
    await record_events(
        session,
        [
            AuditEntry(
                actor=actor.audit(),
                action=CLAIM_ACTION,
                # Not the entering account's: its admins must not read it in their log.
                account_id=None,
                target_type="user",
                target_id=claim.user_id,
                details={
                    "claim_id": claim_id,
                    "field": claim.field,
                    "account_id": account_id,
                    "holder_account_id": claim.holder_account_id,
                },
            )
            for claim, claim_id in zip(claims, ids, strict=True)
        ],
    )
