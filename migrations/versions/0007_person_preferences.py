"""people: a person's preferences (time zone), and what a session carries between pages

Revision ID: 0007_person_preferences
Revises: 0006_account_settings
Create Date: 2026-12-02 16:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_person_preferences"
down_revision = "0006_account_settings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("app_user") as batch:
        batch.add_column(sa.Column("time_zone", sa.String(length=64), nullable=True))
    with op.batch_alter_table("user_session") as batch:
        batch.add_column(sa.Column("return_to", sa.String(length=512), nullable=True))
        batch.add_column(sa.Column("shown_once", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("user_session") as batch:
        batch.drop_column("shown_once")
        batch.drop_column("return_to")
    with op.batch_alter_table("app_user") as batch:
        batch.drop_column("time_zone")
