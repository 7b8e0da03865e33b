"""The audit log's codes in words, for the people who read it: "user.invite" → "User invited".

Every room records its own action codes; the words for them live here, beside the log, so a
reader never sees a code. A code recorded before its words were written still reads as words
(`action_words` makes them from the code), and a test checks that every code recorded in `src/`
has words of its own. Roles and account or user statuses are the log's codes too.
"""

from __future__ import annotations

ACTION_WORDS: dict[str, str] = {
    "account.create": "Customer account opened",
    "account.mfa_policy": "Second-factor rule for members changed",
    "account.reactivate": "Customer account reactivated",
    "account.settings_change": "Organisation settings changed",
    "account.signup": "Organisation signed up",
    "account.suspend": "Customer account suspended",
    "account.verified": "Organisation's email address confirmed",
    "api_token.create": "API token created",
    "api_token.revoke": "API token revoked",
    "device.forget": "Device forgotten",
    "identity.claim_held": "Details already held elsewhere (left for the holder)",
    "people.reveal": "Personal data revealed",
    "people.reveal_denied": "Personal data reveal refused",
    "people.search": "People searched",
    "signin.locked": "Sign-in locked after failures",
    "signin.password": "Signed in with password",
    "signin.second_factor": "Second factor entered",
    "user.contact_change": "Contact details changed",
    "user.contact_change_request": "Contact details change requested",
    "user.first_admin": "First administrator created",
    "user.force_password_change": "Password change forced",
    "user.import": "Users imported",
    "user.invite": "User invited",
    "user.invite_accept": "Invitation accepted",
    "user.invite_cancel": "Invitation cancelled",
    "user.invite_resend": "Invitation sent again",
    "user.mfa_enable": "Second factor set up",
    "user.mfa_recovery_codes_regenerate": "New recovery codes made",
    "user.mfa_replace": "Authenticator replaced",
    "user.mfa_reset": "Second factor reset",
    "user.password_change": "Password changed",
    "user.password_reset": "Password reset",
    "user.password_reset_request": "Password reset requested",
    "user.personal_data_correct": "Personal data corrected",
    "user.profile_update": "Profile updated",
    "user.reactivate": "User reactivated",
    "user.remove": "User removed",
    "user.role_change": "Role changed",
    "user.sessions_revoke": "All sessions ended",
    "user.sign_in_disowned": "Sign-in reported as not me",
    "user.suspend": "User suspended",
    "user.time_zone_change": "Time zone changed",
    "user.unlock": "Sign-in unlocked",
    "users.export": "User list exported",
}

ROLE_WORDS: dict[str, str] = {
    "platform_admin": "Platform administrator",
    "support_agent": "Support agent",
    "privacy_officer": "Privacy officer",
    "communications": "Communications",
    "owner": "Owner",
    "admin": "Administrator",
    "member": "Member",
    "system": "The system",
    "operator": "Operator (command line)",
}

STATUS_WORDS: dict[str, str] = {
    "active": "Active",
    "pending_verification": "Pending (email not confirmed yet)",
    "suspended": "Suspended",
    "invited": "Invited",
    "erased": "Removed",
}

TARGET_WORDS: dict[str, str] = {
    "account": "Customer account",
    "user": "User",
    "person": "Person",
    "api_token": "API token",
}


def code_words(code: str) -> str:
    """Words made from a code none of the tables name: "user.key_rotate" → "User key rotate"."""
    spaced = " ".join(code.replace(".", " ").replace("_", " ").replace("-", " ").split())
    return spaced[:1].upper() + spaced[1:] if spaced else "Unknown"


def action_words(action: str) -> str:
    return ACTION_WORDS.get(action) or code_words(action)


def role_words(role: str | None) -> str:
    if not role:
        return ROLE_WORDS["system"]
    return ROLE_WORDS.get(role) or code_words(role)


def status_words(status: str) -> str:
    return STATUS_WORDS.get(status) or code_words(status)


def target_words(target_type: str | None) -> str:
    if not target_type:
        return ""
    return TARGET_WORDS.get(target_type) or code_words(target_type)
