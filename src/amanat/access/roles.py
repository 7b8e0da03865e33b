"""Roles and what each may do: the one enum and the one permission table (ASVS V8.1.1).

Platform roles exist only in the provider's own platform account; account roles only in
customer accounts. Services ask `allows(role, permission)`; no route decides by role name.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    PLATFORM_ADMIN = "platform_admin"
    SUPPORT_AGENT = "support_agent"
    PRIVACY_OFFICER = "privacy_officer"
    COMMUNICATIONS = "communications"
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


PLATFORM_ROLES = frozenset(
    {Role.PLATFORM_ADMIN, Role.SUPPORT_AGENT, Role.PRIVACY_OFFICER, Role.COMMUNICATIONS}
)
ACCOUNT_ROLES = frozenset({Role.OWNER, Role.ADMIN, Role.MEMBER})


class Permission(StrEnum):
    MANAGE_CUSTOMER_ACCOUNTS = "manage_customer_accounts"
    MANAGE_STAFF = "manage_staff"
    MANAGE_USERS = "manage_users"
    SUPERVISE_USERS = "supervise_users"
    MANAGE_ACCOUNT_SETTINGS = "manage_account_settings"
    GRANT_ADMIN = "grant_admin"
    REVEAL_PERSONAL_DATA = "reveal_personal_data"
    READ_AUDIT_LOG = "read_audit_log"
    MANAGE_OWN_CREDENTIALS = "manage_own_credentials"
    USE_API_TOKENS = "use_api_tokens"


_EVERYONE = frozenset({Permission.MANAGE_OWN_CREDENTIALS, Permission.USE_API_TOKENS})
_ACCOUNT_ADMIN = _EVERYONE | {
    Permission.MANAGE_USERS,
    Permission.SUPERVISE_USERS,
    Permission.MANAGE_ACCOUNT_SETTINGS,
    Permission.REVEAL_PERSONAL_DATA,
    # Their own account's records only: `supervision.audit_log` scopes by the reader.
    Permission.READ_AUDIT_LOG,
}

PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.PLATFORM_ADMIN: _EVERYONE
    | {Permission.MANAGE_CUSTOMER_ACCOUNTS, Permission.MANAGE_STAFF, Permission.READ_AUDIT_LOG},
    Role.SUPPORT_AGENT: _EVERYONE | {Permission.REVEAL_PERSONAL_DATA},
    Role.PRIVACY_OFFICER: _EVERYONE | {Permission.REVEAL_PERSONAL_DATA, Permission.READ_AUDIT_LOG},
    Role.COMMUNICATIONS: _EVERYONE,
    Role.OWNER: _ACCOUNT_ADMIN | {Permission.GRANT_ADMIN},
    Role.ADMIN: _ACCOUNT_ADMIN,
    Role.MEMBER: _EVERYONE,
}

# Staff and account admins always need a second factor (ASVS V6.3.3); members by account setting.
ROLES_THAT_ALWAYS_NEED_MFA = PLATFORM_ROLES | {Role.OWNER, Role.ADMIN}


def allows(role: Role, permission: Permission) -> bool:
    return permission in PERMISSIONS[role]


def is_platform_role(role: Role) -> bool:
    return role in PLATFORM_ROLES
