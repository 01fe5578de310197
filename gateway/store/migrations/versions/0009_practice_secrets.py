"""Practice credential references move into the reserved namespace LIAISON_PRACTICE_SECRET_*.

A reference stored before the namespace existed (`token_env: A81001_TOKEN`) is rewritten to
`LIAISON_PRACTICE_SECRET_A81001_TOKEN`; the operator renames the environment variable to
match (until then the practice's adapter says which variable is not set). A reference that
named another variable, Liaison's own `LIAISON_SECRET_KEY` say, becomes a name in the
namespace that nobody set, so it is never read again. The rules are copied here, not
imported, so the migration stays what it was when later code changes.

Revision ID: 0009_practice_secrets
Revises: 0004_practices
"""

import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0009_practice_secrets"
down_revision: str | None = "0004_practices"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PREFIX = "LIAISON_PRACTICE_SECRET_"
_RESERVED = re.compile(rf"^{PREFIX}[A-Z0-9_]{{1,100}}$")

practices = sa.table(
    "practices", sa.column("ods_code", sa.String()), sa.column("config", sa.JSON())
)


def reserved(name: str) -> str:
    if _RESERVED.match(name):
        return name
    return (PREFIX + re.sub(r"[^A-Z0-9_]", "_", name.upper()))[: len(PREFIX) + 100]


def renamed(config: dict[str, Any]) -> dict[str, Any]:
    out = dict(config)
    if isinstance(out.get("callback_secret_env"), str):
        out["callback_secret_env"] = reserved(out["callback_secret_env"])
    auth = out.get("auth")
    if isinstance(auth, dict):
        auth = dict(auth)
        for key in ("token_env", "private_key_env"):
            if isinstance(auth.get(key), str):
                auth[key] = reserved(auth[key])
        out["auth"] = auth
    return out


def upgrade() -> None:
    bind = op.get_bind()
    for ods_code, config in bind.execute(sa.select(practices.c.ods_code, practices.c.config)):
        if isinstance(config, dict) and renamed(config) != config:
            bind.execute(
                practices.update()
                .where(practices.c.ods_code == ods_code)
                .values(config=renamed(config))
            )


def downgrade() -> None:
    # The old names are not kept: a downgrade leaves the references in the namespace.
    pass
