"""A MESH delivery, and a chase-up sent over MESH, name the ITK message they send (GP Connect
Send Document), so the practice's ITK3 responses are matched to them; a chase-up keeps what
they said.

Revision ID: 0022_send_document
Revises: 0018_delivery_purpose
Depends on: 0006_notifications (the chase_ups table)
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_send_document"
down_revision: str | None = "0018_delivery_purpose"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = "0006_notifications"


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("message_id", sa.String(36), nullable=True))
        batch.create_index("ix_deliveries_message_id", ["message_id"])
    with op.batch_alter_table("chase_ups") as batch:
        batch.add_column(sa.Column("message_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("remote_status", sa.String(32), nullable=True))
        batch.create_index("ix_chase_ups_message_id", ["message_id"])


def downgrade() -> None:
    with op.batch_alter_table("chase_ups") as batch:
        batch.drop_index("ix_chase_ups_message_id")
        batch.drop_column("remote_status")
        batch.drop_column("message_id")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_index("ix_deliveries_message_id")
        batch.drop_column("message_id")
