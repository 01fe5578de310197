"""dm+d codes imported from a deployment's own dm+d release (`liaison catalogue import`).

Revision ID: 0003_fhir
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_fhir"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "catalogue_codes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("system", sa.String(100), nullable=False),
        sa.Column("code", sa.String(20), nullable=False),
        sa.Column("display", sa.String(500), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("kind", "key", "code", name="uq_catalogue_code"),
    )
    op.create_index("ix_catalogue_codes_code", "catalogue_codes", ["code"])


def downgrade() -> None:
    op.drop_index("ix_catalogue_codes_code", table_name="catalogue_codes")
    op.drop_table("catalogue_codes")
