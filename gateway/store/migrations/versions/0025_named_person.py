"""A reminder plan may name a person (care coordinator, family member) who gets copies.

Revision ID: 0025_named_person
Revises: 0024_reminders
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025_named_person"
down_revision: str | None = "0024_reminders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # {"role", "channel", "address", "consent"}; contact details stay in the store like the
    # service user's own, never in logs.
    op.add_column("reminder_plans", sa.Column("named_person", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("reminder_plans", "named_person")
