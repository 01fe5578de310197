"""Appointments booked through GP Connect Appointment Management, with their time and place.

Revision ID: 0021_appointments
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_appointments"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "appointments",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("recommendation_id", sa.String(36), nullable=False),
        sa.Column("practice_ods", sa.String(10), nullable=False),
        sa.Column("remote_id", sa.String(64), nullable=False),
        sa.Column("remote_version", sa.String(64), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("location_name", sa.String(200), nullable=True),
        sa.Column("location_address", sa.String(500), nullable=True),
        sa.Column("practitioner", sa.String(200), nullable=True),
        sa.Column("slot_ids", sa.JSON(), nullable=False),
        sa.Column("outcome_source", sa.String(16), nullable=True),
        sa.Column("outcome_detail", sa.Text(), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["recommendation_id"], ["recommendations.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("appointments") as batch:
        batch.create_index("ix_appointments_recommendation_id", ["recommendation_id"])
        batch.create_index("ix_appointments_state_start", ["state", "start_at"])


def downgrade() -> None:
    op.drop_table("appointments")
