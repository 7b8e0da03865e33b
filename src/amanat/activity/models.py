"""Activity tables: security events and recognised devices.

Both hold what the policy calls location information (§1) — the client address and the parsed
user agent — collected automatically (§3) for security. The raw user agent is never stored;
the raw address only until `activity_ip_truncate_days`, after which only its /24 or /48
network remains (§4 data minimization). Rows are keyed by the user and carry `account_id`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from amanat.activity.vocabulary import DEVICE_TYPES, EVENT_KINDS, OUTCOMES
from amanat.core.db import Base, UTCDateTime

NAME_LENGTH = 40
VERSION_LENGTH = 16
ADDRESS_LENGTH = 45
NETWORK_LENGTH = 64


def _enum(*values: str, name: str) -> Enum:
    # VARCHAR with a CHECK constraint on both backends, like the identity tables.
    return Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


class KnownDevice(Base):
    """A browser or client a user has signed in from, recognised by a long-lived random cookie
    (only its SHA-256 is stored) together with the browser and OS it reported."""

    __tablename__ = "known_device"
    __table_args__ = (UniqueConstraint("user_id", "token_hash", "browser", "os"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("customer_account.id"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    browser: Mapped[str] = mapped_column(String(NAME_LENGTH))
    browser_version: Mapped[str] = mapped_column(String(VERSION_LENGTH))
    os: Mapped[str] = mapped_column(String(NAME_LENGTH))
    os_version: Mapped[str] = mapped_column(String(VERSION_LENGTH))
    device_type: Mapped[str] = mapped_column(_enum(*DEVICE_TYPES, name="device_type"))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    # The raw address of the last sighting, kept until the truncation period; the network stays.
    last_ip: Mapped[str | None] = mapped_column(String(ADDRESS_LENGTH))
    last_network: Mapped[str | None] = mapped_column(String(NETWORK_LENGTH))


class SecurityEvent(Base):
    """One security-relevant moment of a known user: a sign-in step, a lock, a sign-out, a
    credential change, a session ended, a new device. Failures against unknown logins are not
    recorded here (there is no one to key them by); the sign-in throttle counts those."""

    __tablename__ = "security_event"
    __table_args__ = (
        Index("ix_security_event_account_at", "account_id", "at"),
        Index("ix_security_event_user_at", "user_id", "at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("customer_account.id"))
    user_id: Mapped[str] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    # Sessions are deleted when they end; the id stays as a reference, not a foreign key.
    session_id: Mapped[str | None] = mapped_column(String(36), index=True)
    device_id: Mapped[str | None] = mapped_column(
        ForeignKey("known_device.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(_enum(*EVENT_KINDS, name="security_event_kind"))
    outcome: Mapped[str] = mapped_column(_enum(*OUTCOMES, name="security_event_outcome"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    ip: Mapped[str | None] = mapped_column(String(ADDRESS_LENGTH))
    network: Mapped[str | None] = mapped_column(String(NETWORK_LENGTH))
    browser: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    browser_version: Mapped[str | None] = mapped_column(String(VERSION_LENGTH))
    os: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    os_version: Mapped[str | None] = mapped_column(String(VERSION_LENGTH))
    device_type: Mapped[str | None] = mapped_column(
        _enum(*DEVICE_TYPES, name="security_event_device_type")
    )
