"""Notifications and follow-up: deferral and digests, chase-ups, practitioner preferences,
re-engagement links and webhook subscriptions.

Revision ID: 0006_notifications
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_notifications"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("not_before", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("batch_id", sa.String(36), nullable=True))
        batch.create_index("ix_notifications_status_not_before", ["status", "not_before"])
    with op.batch_alter_table("recommendations") as batch:
        batch.add_column(sa.Column("predecessor_id", sa.String(36), nullable=True))
        batch.create_index("ix_recommendations_predecessor_id", ["predecessor_id"], unique=True)
        batch.create_foreign_key(
            "fk_recommendations_predecessor_id", "recommendations", ["predecessor_id"], ["id"]
        )
    op.create_table(
        "chase_ups",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("recommendation_id", sa.String(36), nullable=False),
        sa.Column("practice_ods", sa.String(10), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("remote_reference", sa.String(200), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("resource", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["practice_ods"], ["practices.ods_code"]),
        sa.ForeignKeyConstraint(["recommendation_id"], ["recommendations.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("recommendation_id", "number", name="uq_chase_up_number"),
    )
    with op.batch_alter_table("chase_ups") as batch:
        batch.create_index("ix_chase_ups_recommendation_id", ["recommendation_id"])
        batch.create_index("ix_chase_ups_state_next", ["state", "next_attempt_at"])
    op.create_table(
        "practitioner_preferences",
        sa.Column("organisation_ods", sa.String(10), nullable=False),
        sa.Column("practitioner_id", sa.String(100), nullable=False),
        sa.Column("delivery", sa.String(16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("organisation_ods", "practitioner_id"),
    )
    op.create_table(
        "webhook_subscriptions",
        sa.Column("organisation_ods", sa.String(10), nullable=False),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("secret", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("organisation_ods"),
    )


def downgrade() -> None:
    op.drop_table("webhook_subscriptions")
    op.drop_table("practitioner_preferences")
    with op.batch_alter_table("chase_ups") as batch:
        batch.drop_index("ix_chase_ups_state_next")
        batch.drop_index("ix_chase_ups_recommendation_id")
    op.drop_table("chase_ups")
    with op.batch_alter_table("recommendations") as batch:
        batch.drop_constraint("fk_recommendations_predecessor_id", type_="foreignkey")
        batch.drop_index("ix_recommendations_predecessor_id")
        batch.drop_column("predecessor_id")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_index("ix_notifications_status_not_before")
        batch.drop_column("batch_id")
        batch.drop_column("not_before")
