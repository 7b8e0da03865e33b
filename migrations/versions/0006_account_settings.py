"""identity: customer account settings and invitation upkeep

Revision ID: 0006_account_settings
Revises: 0005_identity_claims
Create Date: 2026-12-02 16:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_account_settings"
down_revision = "0005_identity_claims"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customer_account") as batch:
        batch.add_column(sa.Column("session_hours", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("customer_account") as batch:
        batch.drop_column("session_hours")
