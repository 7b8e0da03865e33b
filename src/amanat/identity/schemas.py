"""JSON shapes of the identity API. Inputs forbid unknown fields (ASVS V15.3.3)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from amanat.access.roles import Role
from amanat.core.schemas import Strict
from amanat.identity.accounts import ReactivationReason, SuspensionReason
from amanat.identity.api_tokens import (
    DEFAULT_VALID_DAYS,
    MAX_VALID_DAYS,
    MIN_VALID_DAYS,
    NAME_MAX_LENGTH,
    ApiScope,
    ApiTokenSummary,
)
from amanat.identity.devices import SessionDetails
from amanat.people.schemas import EMAIL_BOUND, FULL_NAME_BOUND, IdentityFieldsIn


class SigninIn(Strict):
    login: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=1024)


class SecondFactorIn(Strict):
    code: str = Field(min_length=6, max_length=64)


class SigninOut(BaseModel):
    user_id: str
    username: str
    needs_second_factor: bool
    needs_mfa_enrolment: bool
    must_change_password: bool
    csrf_token: str


class MeOut(BaseModel):
    id: str
    username: str
    account_id: str
    role: Role
    status: str
    full_name: str
    email: str
    mfa_enabled: bool
    password_changed_at: datetime | None
    last_signin_at: datetime | None
    csrf_token: str
    time_zone: str = Field(description="The zone pages show times in (default Asia/Karachi).")


class PasswordChangeIn(Strict):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)
    end_other_sessions: bool = True


class InviteAcceptIn(Strict):
    token: str = Field(min_length=16, max_length=128)
    password: str = Field(min_length=1, max_length=1024)
    # Read only when the invitation asks the invitee to choose one (`username_required`).
    username: str | None = Field(default=None, max_length=256)


class TotpEnrolmentOut(BaseModel):
    secret: str
    otpauth_uri: str
    qr_code: str


class TotpConfirmIn(Strict):
    code: str = Field(min_length=6, max_length=16)


class RecoveryCodesOut(BaseModel):
    recovery_codes: list[str]


class SessionOut(BaseModel):
    id: str
    current: bool
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    # Where the session was opened from (None where nothing was recorded); the address only as
    # its /24 or /48 network.
    first_seen_at: datetime | None = None
    browser: str | None = None
    browser_version: str | None = None
    os: str | None = None
    os_version: str | None = None
    device_type: str | None = None
    ip_network: str | None = None


class UserCreateIn(IdentityFieldsIn):
    username: str = Field(min_length=3, max_length=64)
    # Bounds only: the people service trims, then applies each field's rule and limit.
    full_name: str = Field(max_length=FULL_NAME_BOUND, description="1–200 characters.")
    email: str = Field(max_length=EMAIL_BOUND, description="At most 254 characters.")
    role: Role = Role.MEMBER
    account_id: str | None = Field(default=None, max_length=36)


class UserOut(BaseModel):
    id: str
    account_id: str
    username: str
    role: str
    status: str
    full_name: str
    email: str
    mfa_enabled: bool
    last_signin_at: datetime | None
    created_at: datetime
    # Masked like the name and email; the address shows as its city only.
    phone: str | None = None
    cnic: str | None = None
    city: str | None = None


class AccountCreateIn(Strict):
    name: str = Field(min_length=1, max_length=200)


class AccountOut(BaseModel):
    id: str
    kind: str
    name: str
    status: str
    members_need_mfa: bool
    created_at: datetime


class AccountSuspendIn(Strict):
    reason: SuspensionReason


class AccountReactivateIn(Strict):
    reason: ReactivationReason


class RoleChangeIn(Strict):
    role: Role


class AccountSettingsIn(Strict):
    members_need_mfa: bool


class CountOut(BaseModel):
    count: int


class StrengthIn(Strict):
    password: str = Field(max_length=1024)
    two_factor: bool = Field(
        default=False,
        description="Judge it as one factor of two (a shorter minimum), as for a user with TOTP",
    )


class PasswordProblemOut(BaseModel):
    code: str
    message: str


class StrengthOut(BaseModel):
    score: int
    label: str
    feedback: list[str]
    acceptable: bool = Field(
        description="Whether setting this password would pass the policy (apart from the "
        "person's own context words, which this anonymous check does not know)"
    )
    problems: list[PasswordProblemOut] = Field(
        description="Why it would be refused, as setting it would answer; empty when acceptable"
    )


def session_out(details: SessionDetails) -> SessionOut:
    return SessionOut(
        id=details.id,
        current=details.current,
        created_at=details.first_seen_at,
        last_seen_at=details.last_seen_at,
        expires_at=details.expires_at,
        first_seen_at=details.first_seen_at,
        browser=details.browser,
        browser_version=details.browser_version,
        os=details.os,
        os_version=details.os_version,
        device_type=details.device_type,
        ip_network=details.network,
    )


class ApiTokenCreateIn(Strict):
    name: str = Field(min_length=1, max_length=NAME_MAX_LENGTH)
    scopes: list[ApiScope] = Field(min_length=1, max_length=len(ApiScope))
    valid_days: int = Field(
        default=DEFAULT_VALID_DAYS, ge=MIN_VALID_DAYS, le=MAX_VALID_DAYS, strict=True
    )


class ApiTokenOut(BaseModel):
    id: str
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    expired: bool


class ApiTokenCreatedOut(ApiTokenOut):
    token: str = Field(description="The token itself. Shown this once: store it now.")


def api_token_out(summary: ApiTokenSummary) -> ApiTokenOut:
    return ApiTokenOut(
        id=summary.id,
        name=summary.name,
        prefix=summary.prefix,
        scopes=list(summary.scopes),
        created_at=summary.created_at,
        expires_at=summary.expires_at,
        last_used_at=summary.last_used_at,
        expired=summary.expired,
    )


class PasswordResetIn(Strict):
    login: str = Field(min_length=1, max_length=254)


class PasswordResetCompleteIn(Strict):
    token: str = Field(min_length=16, max_length=128)
    new_password: str = Field(min_length=1, max_length=1024)


class SignupIn(IdentityFieldsIn):
    account_name: str = Field(min_length=1, max_length=200)
    username: str = Field(min_length=3, max_length=64)
    full_name: str = Field(max_length=FULL_NAME_BOUND, description="1–200 characters.")
    email: str = Field(max_length=EMAIL_BOUND, description="At most 254 characters.")
    password: str = Field(min_length=1, max_length=1024)


class VerifyIn(Strict):
    token: str = Field(min_length=16, max_length=128)


class AcceptedOut(BaseModel):
    status: str
    detail: str


class MfaStatusOut(BaseModel):
    enabled: bool
    enabled_at: datetime | None
    recovery_codes_left: int


class ReauthenticationIn(Strict):
    """The password and a current second factor (TOTP code or an unused recovery code)."""

    current_password: str = Field(min_length=1, max_length=1024)
    code: str = Field(min_length=6, max_length=64)


class MePatchIn(Strict):
    time_zone: str | None = Field(
        default=None,
        max_length=64,
        description="An IANA zone such as Asia/Dubai; null: the default, Asia/Karachi.",
    )
