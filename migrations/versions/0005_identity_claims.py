"""identity: held claims on an email, CNIC or username another customer account holds

Revision ID: 0005_identity_claims
Revises: 0004_people_changes
Create Date: 2026-12-02 16:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import amanat.core.db

revision = "0005_identity_claims"
down_revision = "0004_people_changes"
branch_labels = None
depends_on = None

# Unique among the values held for good; a held claim may repeat (see `IdentityClaim`).
_UNIQUE_UNLESS_HELD = (
    ("person", "email_index", "email_held"),
    ("person", "cnic_index", "cnic_held"),
    ("app_user", "username", "username_held"),
)


def upgrade() -> None:
    for table, column, held in _UNIQUE_UNLESS_HELD:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column(held, sa.Boolean(), server_default=sa.false(), nullable=False)
            )
            batch_op.drop_constraint(f"uq_{table}_{column}", type_="unique")
            # Every row, claims included, for the doors that look for their own account's.
            batch_op.create_index(batch_op.f(f"ix_{table}_{column}"), [column], unique=False)
        where = sa.text(f"NOT {held}")
        op.create_index(
            f"uq_{table}_{column}",
            table,
            [column],
            unique=True,
            sqlite_where=where,
            postgresql_where=where,
        )

    op.create_table(
        "identity_claim",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("holder_account_id", sa.String(length=36), nullable=False),
        sa.Column("field", sa.String(length=16), nullable=False),
        sa.Column("person_id", sa.String(length=36), nullable=True),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", amanat.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", amanat.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["customer_account.id"],
            name=op.f("fk_identity_claim_account_id_customer_account"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_identity_claim_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_claim")),
    )
    with op.batch_alter_table("identity_claim", schema=None) as batch_op:
        for column in ("account_id", "person_id", "user_id"):
            batch_op.create_index(batch_op.f(f"ix_identity_claim_{column}"), [column], unique=False)


def downgrade() -> None:
    op.drop_table("identity_claim")
    for table, column, held in reversed(_UNIQUE_UNLESS_HELD):
        op.drop_index(f"uq_{table}_{column}", table_name=table)
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{table}_{column}"))
            batch_op.create_unique_constraint(f"uq_{table}_{column}", [column])
            batch_op.drop_column(held)
