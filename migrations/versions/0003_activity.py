"""activity: security events and known devices

Revision ID: 0003_activity
Revises: 0002_identity
Create Date: 2026-11-26 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import amanat.core.db

revision = "0003_activity"
down_revision = "0002_identity"
branch_labels = None
depends_on = None

DEVICE_TYPES = ("desktop", "mobile", "tablet", "bot", "other")
EVENT_KINDS = (
    "signin",
    "mfa",
    "lock",
    "unlock",
    "signout",
    "password_change",
    "password_reset",
    "mfa_change",
    "session_revoked",
    "new_device",
)


def _enum(*values: str, name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def upgrade() -> None:
    op.create_table(
        "known_device",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("browser", sa.String(length=40), nullable=False),
        sa.Column("browser_version", sa.String(length=16), nullable=False),
        sa.Column("os", sa.String(length=40), nullable=False),
        sa.Column("os_version", sa.String(length=16), nullable=False),
        sa.Column("device_type", _enum(*DEVICE_TYPES, name="device_type"), nullable=False),
        sa.Column("first_seen_at", amanat.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", amanat.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_ip", sa.String(length=45), nullable=True),
        sa.Column("last_network", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["customer_account.id"],
            name=op.f("fk_known_device_account_id_customer_account"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["app_user.id"],
            name=op.f("fk_known_device_user_id_app_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_known_device")),
        sa.UniqueConstraint(
            "user_id",
            "token_hash",
            "browser",
            "os",
            name=op.f("uq_known_device_user_id_token_hash_browser_os"),
        ),
    )
    with op.batch_alter_table("known_device", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_known_device_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_known_device_last_seen_at"), ["last_seen_at"], unique=False
        )

    op.create_table(
        "security_event",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=True),
        sa.Column("device_id", sa.String(length=36), nullable=True),
        sa.Column("kind", _enum(*EVENT_KINDS, name="security_event_kind"), nullable=False),
        sa.Column(
            "outcome", _enum("success", "failure", name="security_event_outcome"), nullable=False
        ),
        sa.Column("at", amanat.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("network", sa.String(length=64), nullable=True),
        sa.Column("browser", sa.String(length=40), nullable=True),
        sa.Column("browser_version", sa.String(length=16), nullable=True),
        sa.Column("os", sa.String(length=40), nullable=True),
        sa.Column("os_version", sa.String(length=16), nullable=True),
        sa.Column(
            "device_type",
            _enum(*DEVICE_TYPES, name="security_event_device_type"),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["customer_account.id"],
            name=op.f("fk_security_event_account_id_customer_account"),
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["known_device.id"],
            name=op.f("fk_security_event_device_id_known_device"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["app_user.id"],
            name=op.f("fk_security_event_user_id_app_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_event")),
    )
    with op.batch_alter_table("security_event", schema=None) as batch_op:
        batch_op.create_index("ix_security_event_account_at", ["account_id", "at"], unique=False)
        batch_op.create_index(batch_op.f("ix_security_event_at"), ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_security_event_device_id"), ["device_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_security_event_session_id"), ["session_id"], unique=False
        )
        batch_op.create_index("ix_security_event_user_at", ["user_id", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("security_event", schema=None) as batch_op:
        batch_op.drop_index("ix_security_event_user_at")
        batch_op.drop_index(batch_op.f("ix_security_event_session_id"))
        batch_op.drop_index(batch_op.f("ix_security_event_device_id"))
        batch_op.drop_index(batch_op.f("ix_security_event_at"))
        batch_op.drop_index("ix_security_event_account_at")

    op.drop_table("security_event")
    with op.batch_alter_table("known_device", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_known_device_last_seen_at"))
        batch_op.drop_index(batch_op.f("ix_known_device_account_id"))

    op.drop_table("known_device")
