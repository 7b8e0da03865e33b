"""Who a person's own use cases act for, as people knows them: the account holder, not the
identity domain's user row.

People sits below identity, so it never reads users itself: the doors build an `AccountHolder`
from the signed-in user and hand in what only identity can do (re-authenticate, find the holder
of a person) as callables.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from amanat.audit.actors import AuditActor


@dataclass(frozen=True)
class AccountHolder:
    """The user a person's own change is made for: ids, name and role, no secrets."""

    user_id: str
    account_id: str
    username: str
    role: str  # the role's value, as audit records name it
    person_id: str | None

    def audit_actor(self) -> AuditActor:
        """The holder as the actor of their own changes in the audit log."""
        return AuditActor(self.user_id, self.role)


# Checks the holder's current password; raises the identity domain's refusal when it is wrong.
Reauthenticate = Callable[[str], Awaitable[None]]
# The holder whose personal data this person id is, if that holder may still use links.
HolderOfPerson = Callable[[str], Awaitable[AccountHolder | None]]
