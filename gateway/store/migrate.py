"""Run Alembic migrations programmatically (used by `liaison migrate` and the tests)."""

from importlib.resources import files

from alembic import command
from alembic.config import Config


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("gateway.store") / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "heads") -> None:
    # "heads": features add their own revisions branching from the base schema.
    command.upgrade(alembic_config(database_url), revision)
