"""people: purpose-bound reveals of personal data and pending contact changes

Revision ID: 0004_people_changes
Revises: 0003_activity
Create Date: 2026-11-27 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import amanat.core.db

revision = "0004_people_changes"
down_revision = "0003_activity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "personal_data_access",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("person_id", sa.String(length=36), nullable=False),
        sa.Column("actor_id", sa.String(length=36), nullable=False),
        sa.Column("actor_role", sa.String(length=32), nullable=False),
        sa.Column("field", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.LargeBinary(), nullable=False),
        sa.Column("at", amanat.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["customer_account.id"],
            name=op.f("fk_personal_data_access_account_id_customer_account"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_personal_data_access_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_personal_data_access")),
    )
    with op.batch_alter_table("personal_data_access", schema=None) as batch_op:
        batch_op.create_index("ix_personal_data_access_actor_at", ["actor_id", "at"], unique=False)
        batch_op.create_index(
            "ix_personal_data_access_person_at", ["person_id", "at"], unique=False
        )

    op.create_table(
        "pending_contact_change",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("person_id", sa.String(length=36), nullable=False),
        sa.Column("field", sa.String(length=16), nullable=False),
        sa.Column("new_value", sa.LargeBinary(), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("code_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("code_key_version", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", amanat.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", amanat.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", amanat.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["customer_account.id"],
            name=op.f("fk_pending_contact_change_account_id_customer_account"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_pending_contact_change_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_contact_change")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_pending_contact_change_token_hash")),
    )
    with op.batch_alter_table("pending_contact_change", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pending_contact_change_person_id"), ["person_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("pending_contact_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pending_contact_change_person_id"))
    op.drop_table("pending_contact_change")
    with op.batch_alter_table("personal_data_access", schema=None) as batch_op:
        batch_op.drop_index("ix_personal_data_access_person_at")
        batch_op.drop_index("ix_personal_data_access_actor_at")
    op.drop_table("personal_data_access")
