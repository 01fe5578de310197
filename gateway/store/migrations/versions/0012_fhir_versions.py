"""Earlier versions of the FHIR resources Liaison stores, for history and vread.

Revision ID: 0012_fhir_versions
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_fhir_versions"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fhir_resource_versions",
        sa.Column("resource_id", sa.String(64), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("resource_type", sa.String(40), nullable=False),
        sa.Column("recommendation_id", sa.String(36), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["resource_id"], ["fhir_resources.id"]),
        sa.ForeignKeyConstraint(["recommendation_id"], ["recommendations.id"]),
        sa.PrimaryKeyConstraint("resource_id", "version_id"),
    )
    op.create_index(
        "ix_fhir_resource_versions_recommendation_id",
        "fhir_resource_versions",
        ["recommendation_id"],
    )


def downgrade() -> None:
    op.drop_index(
        "ix_fhir_resource_versions_recommendation_id", table_name="fhir_resource_versions"
    )
    op.drop_table("fhir_resource_versions")
