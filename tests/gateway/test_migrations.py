"""Alembic migrations build the schema the models describe, on SQLite and PostgreSQL."""

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from gateway.store.database import make_engine
from gateway.store.migrate import upgrade
from gateway.store.models import Base


def _drift(url: str) -> list[object]:
    upgrade(url)
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection)
            diff: list[object] = compare_metadata(context, Base.metadata)
            tables = set(inspect(connection).get_table_names())
    finally:
        engine.dispose()
    assert set(Base.metadata.tables) <= tables
    return diff


def test_sqlite_schema_matches_models(tmp_path: Path) -> None:
    assert _drift(f"sqlite:///{tmp_path}/m.db") == []


@pytest.mark.services
def test_postgres_schema_matches_models(postgres_url: str) -> None:
    assert _drift(postgres_url) == []


def test_migrating_twice_is_harmless(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/twice.db"
    upgrade(url)
    upgrade(url)
    engine = make_engine(url)
    try:
        assert "recommendations" in inspect(engine).get_table_names()
    finally:
        engine.dispose()
