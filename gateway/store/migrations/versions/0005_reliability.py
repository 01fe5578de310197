"""Replays: the identifier a GP system sees, replay links and bulk replay batches.

Revision ID: 0005_reliability
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_reliability"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("external_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("replay_of", sa.String(36), nullable=True))
        batch.add_column(sa.Column("replay_batch_id", sa.String(36), nullable=True))
        batch.create_index("ix_deliveries_external_id", ["external_id"])
        batch.create_foreign_key("fk_deliveries_replay_of", "deliveries", ["replay_of"], ["id"])
    op.create_table(
        "replay_batches",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("requested_by", sa.String(100), nullable=False),
        sa.Column("criteria", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("replayed", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("replay_batches")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_constraint("fk_deliveries_replay_of", type_="foreignkey")
        batch.drop_index("ix_deliveries_external_id")
        batch.drop_column("replay_batch_id")
        batch.drop_column("replay_of")
        batch.drop_column("external_id")
