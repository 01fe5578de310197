"""A delivery says why it goes to the practice: the request, or its withdrawal (with the
reason, and which request delivery it withdraws).

Revision ID: 0018_delivery_purpose
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_delivery_purpose"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        # Every delivery made before this revision carried the request itself.
        batch.add_column(
            sa.Column("purpose", sa.String(16), nullable=False, server_default="request")
        )
        batch.add_column(sa.Column("withdrawal_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("withdraws_id", sa.String(36), nullable=True))
        batch.create_index("ix_deliveries_withdraws_id", ["withdraws_id"])
    with op.batch_alter_table("deliveries") as batch:
        batch.alter_column("purpose", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_index("ix_deliveries_withdraws_id")
        batch.drop_column("withdraws_id")
        batch.drop_column("withdrawal_reason")
        batch.drop_column("purpose")
