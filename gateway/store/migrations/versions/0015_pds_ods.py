"""Routing by the registered practice: a recommendation's practice may be unknown until PDS
is asked, and every look at PDS/ODS is recorded.

Revision ID: 0015_pds_ods
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_pds_ods"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("recommendations", "deliveries"):
        with op.batch_alter_table(table) as batch:
            batch.alter_column("practice_ods", existing_type=sa.String(10), nullable=True)
    op.create_table(
        "registration_checks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("recommendation_id", sa.String(36), nullable=False),
        sa.Column("delivery_id", sa.String(36), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("given_ods", sa.String(10), nullable=True),
        sa.Column("practice_ods", sa.String(10), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["recommendation_id"], ["recommendations.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("registration_checks") as batch:
        batch.create_index("ix_registration_checks_recommendation_id", ["recommendation_id"])
        batch.create_index("ix_registration_checks_delivery_id", ["delivery_id"])


def downgrade() -> None:
    op.drop_table("registration_checks")
    for table in ("deliveries", "recommendations"):
        with op.batch_alter_table(table) as batch:
            batch.alter_column("practice_ods", existing_type=sa.String(10), nullable=False)
