"""Practice inbox sessions held server-side, revoked at sign-out.

Revision ID: 0016_inbox_sessions
Revises: 0004_practices
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_inbox_sessions"
down_revision: str | None = "0004_practices"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbox_sessions",
        sa.Column("id_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("practice_ods", sa.String(10), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("flash", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["inbox_users.id"]),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    op.create_index("ix_inbox_sessions_user_id", "inbox_sessions", ["user_id"])
    op.create_index("ix_inbox_sessions_expires_at", "inbox_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_inbox_sessions_expires_at", table_name="inbox_sessions")
    op.drop_index("ix_inbox_sessions_user_id", table_name="inbox_sessions")
    op.drop_table("inbox_sessions")
