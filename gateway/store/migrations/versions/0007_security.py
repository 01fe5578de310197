"""Security: registered API clients (JWKS, status), used client-assertion ids, the
append-only audit trail, and the correlation id carried by outbox rows.

Revision ID: 0007_security
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_security"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Append-only is enforced by the database, not by the application's good manners: a
# compromised or buggy process cannot rewrite who touched what.
_PG_APPEND_ONLY = [
    """
    CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$
    BEGIN
        RAISE EXCEPTION 'audit_events is append-only';
    END;
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()
    """,
    """
    CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()
    """,
]
_SQLITE_APPEND_ONLY = [
    """
    CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END
    """,
    """
    CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END
    """,
]


def upgrade() -> None:
    op.create_table(
        "api_clients",
        sa.Column("client_id", sa.String(100), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("organisation_ods", sa.String(10), nullable=False),
        sa.Column("scopes", sa.String(200), nullable=False),
        sa.Column("jwks", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "used_assertion_jtis",
        sa.Column("client_id", sa.String(100), primary_key=True),
        sa.Column("jti", sa.String(200), primary_key=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("used_assertion_jtis") as batch:
        batch.create_index("ix_used_assertion_jtis_expires_at", ["expires_at"])
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("correlation_id", sa.String(64), nullable=True),
        sa.Column("client_id", sa.String(100), nullable=True),
        sa.Column("organisation_ods", sa.String(10), nullable=True),
        sa.Column("actor_kind", sa.String(20), nullable=True),
        sa.Column("user", sa.String(100), nullable=True),
        sa.Column("remote_addr", sa.String(64), nullable=True),
        sa.Column("action", sa.String(1), nullable=False),
        sa.Column("interaction", sa.String(20), nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("route", sa.String(200), nullable=False),
        sa.Column("recommendation_id", sa.String(36), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(2), nullable=False),
    )
    with op.batch_alter_table("audit_events") as batch:
        batch.create_index("ix_audit_events_recorded_at", ["recorded_at"])
        batch.create_index(
            "ix_audit_events_recommendation_recorded", ["recommendation_id", "recorded_at"]
        )
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("correlation_id", sa.String(64), nullable=True))

    dialect = op.get_bind().dialect.name
    for statement in {"postgresql": _PG_APPEND_ONLY, "sqlite": _SQLITE_APPEND_ONLY}.get(
        dialect, []
    ):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_change ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("correlation_id")
    op.drop_table("audit_events")
    with op.batch_alter_table("used_assertion_jtis") as batch:
        batch.drop_index("ix_used_assertion_jtis_expires_at")
    op.drop_table("used_assertion_jtis")
    op.drop_table("api_clients")
