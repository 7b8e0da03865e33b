"""Who acted, as the audit log records it: a user and their role, the system, or the operator."""

from __future__ import annotations

from dataclasses import dataclass

SYSTEM_ROLE = "system"
OPERATOR_ROLE = "operator"


@dataclass(frozen=True)
class AuditActor:
    """Who acted: a signed-in user and their role. `None` in place of an actor means the system."""

    user_id: str | None
    role: str | None


SYSTEM = AuditActor(user_id=None, role=SYSTEM_ROLE)
OPERATOR = AuditActor(user_id=None, role=OPERATOR_ROLE)
"""The person at the `amanat` command line, who signs in to nothing."""
