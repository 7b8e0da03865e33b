"""key store: wrapped data keys of people

Revision ID: k0001_person_key
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "k0001_person_key"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "person_key",
        sa.Column("person_id", sa.String(length=36), nullable=False),
        sa.Column("master_version", sa.Integer(), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_person_key")),
    )


def downgrade() -> None:
    op.drop_table("person_key")
