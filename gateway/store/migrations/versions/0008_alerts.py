"""Integration engineers: alerts (raised once per rule and subject until resolved) and the
console's server-side sessions.

Revision ID: 0008_alerts
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_alerts"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution_notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notice_claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notice_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("alerts") as batch:
        batch.create_index("ix_alerts_resolved_at", ["resolved_at"])
    # One open alert per rule and subject: the database refuses a second, so two evaluations
    # racing raise it once.
    op.create_index(
        "uq_alerts_open",
        "alerts",
        ["rule", "subject"],
        unique=True,
        sqlite_where=sa.text("resolved_at IS NULL"),
        postgresql_where=sa.text("resolved_at IS NULL"),
    )
    op.create_table(
        "console_sessions",
        sa.Column("id_hash", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(100), nullable=False),
        sa.Column("organisation_ods", sa.String(10), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("scopes", sa.String(200), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    with op.batch_alter_table("console_sessions") as batch:
        batch.create_index("ix_console_sessions_expires_at", ["expires_at"])


def downgrade() -> None:
    with op.batch_alter_table("console_sessions") as batch:
        batch.drop_index("ix_console_sessions_expires_at")
    op.drop_table("console_sessions")
    op.drop_index("uq_alerts_open", table_name="alerts")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_index("ix_alerts_resolved_at")
    op.drop_table("alerts")
