"""A care team is a list of members: each member gets their own notification row, so the
once-only rule is per (recommendation, event, recipient, member).

Revision ID: 0023_newcomer_care_team
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023_newcomer_care_team"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("member", sa.Integer(), nullable=False, server_default="0"))
        batch.drop_constraint("uq_notification_once", type_="unique")
        batch.create_unique_constraint(
            "uq_notification_once", ["recommendation_id", "event", "recipient", "member"]
        )


def downgrade() -> None:
    # Only the first member's row per event can stay under the narrower rule.
    op.execute("DELETE FROM notifications WHERE member <> 0")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_constraint("uq_notification_once", type_="unique")
        batch.create_unique_constraint(
            "uq_notification_once", ["recommendation_id", "event", "recipient"]
        )
        batch.drop_column("member")
