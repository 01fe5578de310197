"""Practices: circuit breaker and rate-limit state, MESH mailbox and tracking, inbox users.

Revision ID: 0004_practices
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_practices"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("practices") as batch:
        batch.alter_column(
            "poll_cursor",
            existing_type=sa.String(64),
            type_=sa.String(255),
            existing_nullable=True,
        )
        batch.add_column(sa.Column("mesh_mailbox", sa.String(20), nullable=True))
        # Server defaults fill the rows already there; the models supply values from then on.
        batch.add_column(
            sa.Column("breaker_state", sa.String(16), nullable=False, server_default="closed")
        )
        batch.add_column(
            sa.Column("breaker_failures", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("breaker_opened_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("breaker_probe_until", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("breaker_last_error", sa.Text()))
        batch.add_column(sa.Column("rate_tokens", sa.Float()))
        batch.add_column(sa.Column("rate_checked_at", sa.DateTime(timezone=True)))
        batch.create_index("ix_practices_mesh_mailbox", ["mesh_mailbox"])
    with op.batch_alter_table("practices") as batch:
        batch.alter_column("breaker_state", server_default=None)
        batch.alter_column("breaker_failures", server_default=None)

    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("remote_status", sa.String(32), nullable=True))
        batch.add_column(sa.Column("remote_checked_at", sa.DateTime(timezone=True)))

    op.create_table(
        "inbox_users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("practice_ods", sa.String(10), nullable=False),
        sa.Column("username", sa.String(100), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failed_sign_ins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_sign_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["practice_ods"], ["practices.ods_code"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("practice_ods", "username", name="uq_inbox_user"),
    )
    with op.batch_alter_table("inbox_users") as batch:
        batch.create_index("ix_inbox_users_practice_ods", ["practice_ods"])


def downgrade() -> None:
    op.drop_table("inbox_users")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("remote_checked_at")
        batch.drop_column("remote_status")
    with op.batch_alter_table("practices") as batch:
        batch.drop_index("ix_practices_mesh_mailbox")
        for column in (
            "rate_checked_at",
            "rate_tokens",
            "breaker_last_error",
            "breaker_probe_until",
            "breaker_opened_at",
            "breaker_failures",
            "breaker_state",
            "mesh_mailbox",
        ):
            batch.drop_column(column)
        batch.alter_column(
            "poll_cursor", existing_type=sa.String(255), type_=sa.String(64), existing_nullable=True
        )
