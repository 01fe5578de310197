"""Reminder plans: one per recommendation, the input of gateway.domain.reminder_schedule.

Revision ID: 0024_reminders
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024_reminders"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reminder_plans",
        sa.Column("recommendation_id", sa.String(36), nullable=False),
        sa.Column("quit_date", sa.Date(), nullable=True),
        sa.Column("medicine", sa.String(32), nullable=True),
        sa.Column("course_start", sa.Date(), nullable=True),
        sa.Column("supply_days", sa.Integer(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("kinds", sa.JSON(), nullable=False),
        sa.Column("copy_consent", sa.Boolean(), nullable=False),
        sa.Column("service_user_consent", sa.Boolean(), nullable=False),
        sa.Column("morning", sa.String(5), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["recommendation_id"], ["recommendations.id"]),
        sa.PrimaryKeyConstraint("recommendation_id"),
    )


def downgrade() -> None:
    op.drop_table("reminder_plans")
