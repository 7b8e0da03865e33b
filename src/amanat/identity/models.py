"""Identity tables: customer accounts, users, credentials, sessions, one-time tokens, API tokens,
sign-in throttling. No personal data here: names and emails live encrypted in `people`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from amanat.access.roles import Role
from amanat.core.db import Base, UTCDateTime


def _enum(*values: str, name: str) -> Enum:
    # Stored as VARCHAR with a CHECK constraint on both backends (no native PG enum to migrate).
    return Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


class CustomerAccount(Base):
    """A tenant. The provider's own staff live in the single account of kind `platform`."""

    __tablename__ = "customer_account"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(_enum("platform", "customer", name="account_kind"))
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(
        _enum("pending_verification", "active", "suspended", name="account_status")
    )
    members_need_mfa: Mapped[bool] = mapped_column(Boolean, default=True)
    # The account's own limit on how long a sign-in lasts (hours); None: the platform's. It may
    # only shorten the platform's limit: the shorter of the two applies.
    session_hours: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


# The account statuses under which its users may sign in, use sessions, API tokens and links;
# anything else (a suspended account, a status added later) is refused: deny by default.
ACCOUNT_STATUSES_IN_USE = frozenset({"active", "pending_verification"})


_NOT_HELD = text("NOT username_held")


class User(Base):
    __tablename__ = "app_user"
    __table_args__ = (
        Index("ix_app_user_account_status", "account_id", "status"),
        # A login id is unique among those held for good; a held one may repeat.
        Index(
            "uq_app_user_username",
            "username",
            unique=True,
            sqlite_where=_NOT_HELD,
            postgresql_where=_NOT_HELD,
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("customer_account.id"), index=True)
    # Login id chosen by an admin or at sign-up; not personal data (kept plain, lower-cased).
    username: Mapped[str] = mapped_column(String(64), index=True)
    # Held: the admin asked for a username a user of another customer account has. It is
    # shown as asked, signs no one in, and the invitee picks a free one on accepting.
    username_held: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    role: Mapped[Role] = mapped_column(
        Enum(
            Role,
            name="user_role",
            native_enum=False,
            create_constraint=True,
            length=32,
            values_callable=lambda roles: [role.value for role in roles],
        )
    )
    status: Mapped[str] = mapped_column(
        _enum("invited", "active", "suspended", "erased", name="user_status")
    )
    person_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # zxcvbn score (0–4) of the password when it was set: the hash cannot tell it later.
    password_strength: Mapped[int | None] = mapped_column(Integer)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    mfa_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Consecutive failures since the last success: at 100 the password is disabled (NIST 63B).
    failed_signins: Mapped[int] = mapped_column(Integer, default=0)
    last_signin_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The zone the person reads times in (an IANA name); None: the default, Asia/Karachi.
    time_zone: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RecoveryCode(Base):
    __tablename__ = "recovery_code"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("customer_account.id"))
    user_id: Mapped[str] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(128))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class UserSession(Base):
    """A signed-in browser or client. Only the SHA-256 of the token is stored (ASVS V7.2)."""

    __tablename__ = "user_session"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("customer_account.id"))
    user_id: Mapped[str] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    # "mfa_pending": the password was right, the second factor is still owed.
    stage: Mapped[str] = mapped_column(_enum("mfa_pending", "active", name="session_stage"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reauthenticated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The page a signed-out person asked for, kept from the password step to the last one.
    return_to: Mapped[str | None] = mapped_column(String(512))
    # A value this browser is shown once after a redirect (new recovery codes, a new API
    # token), sealed under the master key and bound to this row; taken when shown.
    shown_once: Mapped[bytes | None] = mapped_column(LargeBinary)


class OneTimeToken(Base):
    """Invites, password resets, email verification: random, single-use, short-lived (V6.4.1)."""

    __tablename__ = "one_time_token"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    purpose: Mapped[str] = mapped_column(
        _enum("invite", "password_reset", "email_verification", name="token_purpose")
    )
    account_id: Mapped[str] = mapped_column(ForeignKey("customer_account.id"))
    user_id: Mapped[str] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ApiToken(Base):
    """A program's credential: shown once, stored hashed, with a visible prefix to recognise it."""

    __tablename__ = "api_token"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    scopes: Mapped[str] = mapped_column(String(500))
    account_id: Mapped[str] = mapped_column(ForeignKey("customer_account.id"))
    user_id: Mapped[str] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SigninThrottle(Base):
    """Failed sign-ins per key (a user, or a client address), by keyed hash: no plain IPs."""

    __tablename__ = "signin_throttle"
    __table_args__ = (UniqueConstraint("scope", "key_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(_enum("user", "address", name="throttle_scope"))
    key_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
