"""An in-process API over a migrated SQLite file (the embedded profile's database)."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from gateway.api.app import create_app
from gateway.practice_directory import dev_directory, seed
from gateway.security.tokens import issue_token
from gateway.settings import ApiSettings, BrokerSettings, DatabaseSettings, Settings
from gateway.store.database import make_engine, make_session_factory
from gateway.store.migrate import upgrade
from gateway.store.models import Base
from gateway.store.unit_of_work import UnitOfWork


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database=DatabaseSettings(url=f"sqlite:///{tmp_path}/api.db"),
        broker=BrokerSettings(url="memory://"),
        api=ApiSettings(max_body_bytes=16 * 1024),
    )


@pytest.fixture
def api(settings: Settings) -> Iterator[TestClient]:
    upgrade(settings.database.url)
    engine = make_engine(settings.database.url)
    with UnitOfWork(make_session_factory(engine)) as uow:
        seed(uow, dev_directory(settings))
    engine.dispose()
    app = create_app(settings)
    token = issue_token(settings, client_id="demo-app", organisation_ods="RX3")
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client
    app.state.engine.dispose()


# Not patient data: the directory, the client registry, and the audit trail, which records
# refused requests too (that a refused request left an audit row is intended).
BOOKKEEPING_TABLES = frozenset({"practices", "api_clients", "used_assertion_jtis", "audit_events"})


def row_counts(client: TestClient) -> dict[str, int]:
    """Rows per table, to prove a refused request left nothing behind."""
    with client.app.state.session_factory() as session:  # type: ignore[attr-defined]
        return {
            name: int(session.scalar(select(func.count()).select_from(table)) or 0)
            for name, table in Base.metadata.tables.items()
            if name not in BOOKKEEPING_TABLES
        }
