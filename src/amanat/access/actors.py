"""Who is acting: the typed actor every identity use case receives and scopes its queries by."""

from __future__ import annotations

from dataclasses import dataclass

from amanat.access.roles import Permission, Role, allows, is_platform_role
from amanat.audit.actors import AuditActor
from amanat.core.errors import Forbidden


@dataclass(frozen=True)
class Actor:
    """A signed-in user (by session or API token), or the operator at the machine (CLI)."""

    user_id: str | None
    account_id: str | None
    role: Role | None
    session_id: str | None = None
    via: str = "session"  # "session", "token" or "operator"

    @property
    def is_operator(self) -> bool:
        return self.via == "operator"

    @property
    def is_platform_staff(self) -> bool:
        return self.role is not None and is_platform_role(self.role)

    def can(self, permission: Permission) -> bool:
        return self.is_operator or (self.role is not None and allows(self.role, permission))

    def require(self, permission: Permission) -> None:
        if not self.can(permission):
            raise Forbidden("You are not allowed to do this.", code="forbidden")

    def audit(self) -> AuditActor:
        return AuditActor(user_id=self.user_id, role=self.role.value if self.role else "operator")


OPERATOR = Actor(user_id=None, account_id=None, role=None, via="operator")
