"""A MESH delivery names the ITK message it sends (GP Connect Send Document), so the
practice's ITK3 responses are matched to it.

Revision ID: 0022_send_document
Revises: 0018_delivery_purpose
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_send_document"
down_revision: str | None = "0018_delivery_purpose"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("message_id", sa.String(36), nullable=True))
        batch.create_index("ix_deliveries_message_id", ["message_id"])


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_index("ix_deliveries_message_id")
        batch.drop_column("message_id")
